/*
 * Tandem — a checked model of the standing rules (docs/PROTOCOL.md, rules 1–6).
 *
 * Three voters: nodes A and B, which can own the service group G, and a witness W,
 * which votes, may lead, and never owns G. One service group. The model starts from a
 * steady cluster (A leads term 1, G is owned by B at epoch 1 and not yet active) and
 * explores everything that can follow. The model contains:
 *   - terms and elections (request/grant, one vote per term, up-to-date log check),
 *     with leader stickiness (rule 5): a voter grants nothing while it has heard
 *     from a leader within ElectionTimeout, a leader counts its own office as hearing
 *     from a leader, and a voter that (re)starts treats its start as hearing from one;
 *   - an abstract Raft log: every term's first entry names its leader, ownership moves
 *     are entries, commit needs a quorum acknowledgement of an entry of the current term;
 *   - leader standing (rule 1): quorum-acknowledged heartbeats (and the election round);
 *   - follower standing (rule 2): acknowledgement stamps echoed by the leader; an echo
 *     grants standing for G only at the epoch the same heartbeat names this node owner;
 *   - activation (rule 3) with the durable activation record (rule 6);
 *   - the controller's reassignment rule 4 (a) release, (b) previous leader,
 *     (c) own echoes and the wait after taking office; any placement policy (the
 *     controller may move G to A or B whenever rule 4 allows it);
 *   - voluntary release by the owner (checks failed, operator, lapse); the controller
 *     may act on a release the moment it happens (a real one learns it later, by a
 *     message: a subset of the model's behaviours);
 *   - crash and restart of any voter: term, vote, log and activation record survive,
 *     everything else (roles, timers, standing, commit index, received stamps) is lost;
 *   - a network that loses, delays without bound and reorders messages (a bag of K
 *     slots, kept sorted, from which messages that can no longer change anything are
 *     removed; a message sent into a full bag is lost); with -DDUP also duplicates.
 *
 * TIME AND CLOCKS — the discretization, and why it is sound.
 * Real time advances in integer ticks (action `tick`). Events between two ticks happen
 * in any interleaving. No node reads a clock: every time-dependent decision in the
 * protocol is "has a local duration D elapsed since local event e?", i.e. a timer. A
 * local clock whose rate stays within [1-rho, 1+rho] of real time measures D in a real
 * duration d in [D/(1+rho), D/(1-rho)]. The model keeps, for every such timer, the real
 * age of its start event (saturating counters; ages also travel inside messages) and
 * lets the timer expire at any age in [lo, hi] with lo = floor(D/(1+rho)) and
 * hi = ceil(D/(1-rho)) in ticks:
 *   - a lower bound ("the controller may reassign once its wait has elapsed", "a voter
 *     may grant once ElectionTimeout has passed") is a guard `age >= lo`, after which
 *     the action may happen at any later time or never (only liveness needs it to);
 *   - an upper bound ("standing ends by a + Lease") is an obligation: time cannot
 *     advance past age hi while the node is still active (or still leading), so the
 *     node deactivates (steps down) at an age <= hi, in any order with other events
 *     of that tick.
 * Each timer chooses independently; a real clock is one consistent choice, so the
 * model's behaviours include every behaviour of nodes whose clocks drift within rho,
 * with any time-varying rate. Restricting event times to integers loses nothing for a
 * safety property of the untimed state, because every bound is an integer and closed:
 * digitizing a real-time run (round each event time up when its fractional part
 * exceeds some eps, down otherwise) keeps the order of events and all closed integer
 * bounds, so it is a run of this model (Henzinger, Manna, Pnueli, "What good are
 * digital clocks?", ICALP 1992). The price is that ties are possible: a vote and a
 * lapse may share a tick in either order, so the inequalities below are strict (at
 * least one tick of margin).
 *
 * Parameters in ticks (defaults verified by Model/check; docs/PROTOCOL.md maps them):
 *   LHI  = ceil(Lease/(1-rho))                longest real life of any standing
 *   ETLO = floor(ElectionTimeout/(1+rho))     shortest real ElectionTimeout (rule 5)
 *   WLO  = floor(W1/(1+rho)), W1 = wait after the last echo sent to the owner (4c)
 *   W2LO = floor(W2/(1+rho)), W2 = wait after taking office (4c)
 * and the rules require ETLO > LHI (rule 5), WLO > LHI and W2LO > 2*LHI - ETLO (4c).
 *
 * Mutants. Model/check runs NO_WAIT, TIMING, B_AT_ONCE and VOLATILE_REC and requires
 * SPIN to catch each; ANY_ECHO is caught in about 140 s and left to runs by hand;
 * SELF_HEARD and BOOT need larger bounds than fit in the check (docs/PROTOCOL.md, C2):
 *   -DMUTANT_NO_WAIT      rule 4(c) without its waits (W1 = W2 = 0)
 *   -DMUTANT_TIMING       rule 5's inequality broken by one tick: voters and candidates
 *                         act after LHI ticks, the waits stay as configured
 *   -DMUTANT_BOOT         a restarted voter may vote at once (no wait after start)
 *   -DMUTANT_SELF_HEARD   a leader does not count its own office as hearing a leader
 *   -DMUTANT_ANY_ECHO     an echo grants standing whatever owner the heartbeat names
 *   -DMUTANT_VOLATILE_REC the activation record is lost in a crash
 *   -DMUTANT_B_AT_ONCE    rule 4(b) as first drafted: the previous leader's group moves
 *                         at once, without the wait for the controller's own echoes
 */

#ifndef LHI
#define LHI 1
#endif
#ifndef ETLO
#define ETLO (LHI+1)
#endif
#ifndef WLO
#define WLO (LHI+1)
#endif
#ifndef W2LO
#define W2LO (2*LHI-ETLO+1 > 0 -> 2*LHI-ETLO+1 : 0)
#endif
#ifdef MUTANT_NO_WAIT      /* rule 4(c) without its waits */
#undef WLO
#undef W2LO
#define WLO 0
#define W2LO 0
#endif
#ifdef MUTANT_TIMING       /* votes come one tick sooner than configured: ETLO = LHI */
#define VOTE_AFTER (ETLO-1)
#else
#define VOTE_AFTER ETLO
#endif

#ifndef MAXTERM
#define MAXTERM 2          /* terms 1..MAXTERM (at most 3: 2-bit fields) */
#endif
#ifndef MAXEP
#define MAXEP 3            /* epochs 1..3: up to two ownership moves */
#endif
#ifndef MAXCRASH
#define MAXCRASH 1         /* crash-and-restart events over the whole run */
#endif
#ifndef K
#define K 2                /* messages in flight at once (1..4) */
#endif

#define N 3
#define A 0
#define B 1
#define W 2
#define NOBODY 3

#define FOL 0
#define CAN 1
#define LEAD 2

/* ---- messages: one int each, so that the bag can be kept sorted (canonical) ---- */
#define T_HB    1   /* heartbeat / append: leader's log, commit index, echo, age     */
#define T_ACK   2   /* ack: match index, age of the heartbeat, the follower's stamp   */
#define T_VREQ  3   /* vote request: last log term and index, age of the request     */
#define T_VRESP 4   /* vote granted: age of the request it answers                    */

#define M_TYPE(m)  ((m) & 7)
#define M_FROM(m)  (((m) >> 3) & 3)
#define M_TO(m)    (((m) >> 5) & 3)
#define M_TERM(m)  (((m) >> 7) & 3)
#define M_AGE(m)   (((m) >> 9) & 3)
#define M_STAMP(m) (((m) >> 11) & 3)
#define M_LOG(m)   (((m) >> 13) & 63)
#define M_IDX(m)   (((m) >> 19) & 7)
#define M_X(m)     (((m) >> 22) & 3)
#define MK(ty,fr,to,te,ag,st,lg,ix,x) ((ty) | ((fr) << 3) | ((to) << 5) | ((te) << 7) | \
        ((ag) << 9) | ((st) << 11) | ((lg) << 13) | ((ix) << 19) | ((x) << 22))
#define NOSTAMP LHI        /* a stamp LHI ticks old can no longer give standing */

/* ---- the log: by Log Matching a Raft log is fixed by how many entries of each term
 * it holds (terms are non-decreasing along the log, and the entries of term t are a
 * prefix of what t's leader appended). Two bits per term. In term t the first entry
 * names t's leader (leaderOf[t]); entry k >= 2 moves G to mv[t][k-2] at the next
 * epoch. The state before the first entry: G owned by A at epoch 1.               */
#define CNT(l,t)    (((l) >> (2*((t)-1))) & 3)
#define LEN(l)      (CNT(l,1) + CNT(l,2) + CNT(l,3))
#define LASTTERM(l) (CNT(l,3) > 0 -> 3 : (CNT(l,2) > 0 -> 2 : (CNT(l,1) > 0 -> 1 : 0)))
#define ONE(t)      (1 << (2*((t)-1)))

/* ---- durable state (survives a crash) ---- */
byte term[N];
byte voted[N];
byte lg[N];
byte arec[N];      /* rule 6: highest epoch of G activated or released here, on disk */

/* ---- volatile state ---- */
byte role[N];
byte cidx[N];      /* commit index known here */
bit  act[N];       /* G active here */
byte heard[N];     /* age since this voter last heard from a leader (cap ETLO) */
byte sage[N];      /* age of the standing for G: stamp / heartbeat it rests on (cap LHI) */
byte sep[N];       /* epoch that standing is for */
byte qage[N];      /* leader: age of its newest quorum-acknowledged round (rule 1) */
byte office[N];    /* leader: age since it took office (cap W2LO) */
byte echo[N];      /* leader: age since it last echoed a stamp to the owner its log names,
                      in a heartbeat naming that owner at the current epoch (cap WLO) */
byte stmp[N*N];    /* leader L, peer P: age of P's newest stamp, NOSTAMP if none */

/* derived from lg/cidx after every change (functions of the state, not extra state) */
byte dOwn[N]; byte dEp[N];   /* owner and epoch at the end of the local log (decided) */
byte cOwn[N]; byte cEp[N];   /* owner and epoch at the commit index */

int msg[K];

/* ---- ghosts for the properties ---- */
byte leaderOf[MAXTERM+1];    /* who led each term; also the content of its first entry */
byte mv[MAXTERM*2];          /* content of move entries */
byte lastAct;                /* epoch of the latest activation */
byte released;               /* highest epoch whose owner confirmed its release (4a).
                              * The controller may use it at once: a real one learns
                              * it later, by message, which the model thus includes */
byte gOwn[MAXEP+1];          /* owner of each epoch once some node saw it committed */
byte crashes;

/* scratch for the inline helpers; cleared at the end of every step (END), so they add
 * no states (SPIN's breadth-first search, used for the shortest trails, refuses
 * hidden variables) */
byte h_i, h_j, h_t, h_k, h_pos, h_own, h_ep, h_len, h_a, h_b, h_x, h_y, h_z;
int h_m, h_dup;
#define END purge(); h_i = 0; h_j = 0; h_t = 0; h_k = 0; h_pos = 0; h_own = 0; h_ep = 0; h_len = 0; \
            h_a = 0; h_b = 0; h_x = 0; h_y = 0; h_z = 0; h_m = 0; h_dup = 0

#define NAME(x) (65 + ((x) == W -> 22 : (x)))   /* 'A', 'B', 'W' */
#define MIN(a,b) ((a) < (b) -> (a) : (b))
#define MAX(a,b) ((a) > (b) -> (a) : (b))

inline ownerAt(l, idx) {     /* -> h_own, h_ep: G's owner and epoch after entry idx */
  h_own = B; h_ep = 1; h_pos = 0; h_t = 1;
  do
  :: h_t > MAXTERM -> break
  :: h_t <= MAXTERM ->
     h_k = 1;
     do
     :: h_k > CNT(l, h_t) -> break
     :: h_k <= CNT(l, h_t) ->
        h_pos++;
        if
        :: h_pos <= idx && h_k >= 2 -> h_own = mv[(h_t-1)*2 + h_k - 2]; h_ep++
        :: else -> skip
        fi;
        h_k++
     od;
     h_t++
  od
}

inline prefixLen(a, b) {     /* -> h_len: length of the longest common prefix */
  h_len = 0; h_t = 1;
  do
  :: h_t > MAXTERM -> break
  :: h_t <= MAXTERM && CNT(a, h_t) == CNT(b, h_t) -> h_len = h_len + CNT(a, h_t); h_t++
  :: h_t <= MAXTERM && CNT(a, h_t) != CNT(b, h_t) -> h_len = h_len + MIN(CNT(a, h_t), CNT(b, h_t)); break
  od
}

inline derive(x) {
  ownerAt(lg[x], LEN(lg[x])); dOwn[x] = h_own; dEp[x] = h_ep;
  ownerAt(lg[x], cidx[x]);    cOwn[x] = h_own; cEp[x] = h_ep;
  /* committed entries never change: every node that sees epoch e committed
   * sees the same owner for it */
  if
  :: gOwn[cEp[x]] == NOBODY -> gOwn[cEp[x]] = cOwn[x]
  :: else -> assert(gOwn[cEp[x]] == cOwn[x])
  fi
}

inline sortbag() {           /* descending; empty slots (0) last */
  h_a = 0;
  do
  :: h_a >= K-1 -> break
  :: h_a < K-1 ->
     h_b = 0;
     do
     :: h_b >= K-1-h_a -> break
     :: h_b < K-1-h_a ->
        if
        :: msg[h_b] < msg[h_b+1] -> h_m = msg[h_b]; msg[h_b] = msg[h_b+1]; msg[h_b+1] = h_m
        :: else -> skip
        fi;
        h_b++
     od;
     h_a++
  od
}

/* a message that can no longer change anything is as good as lost: remove it so that
 * it does not split states (terms and office only move forward). purge() runs at the
 * end of every step (END) and is the one place that sorts the bag into its canonical
 * order; within a step, send() takes any free slot. */
#define DEAD(m) (M_TYPE(m) == T_HB && M_TERM(m) < term[M_TO(m)] || \
                 M_TYPE(m) == T_ACK && !(role[M_TO(m)] == LEAD && term[M_TO(m)] == M_TERM(m)) || \
                 M_TYPE(m) == T_VREQ && M_TERM(m) < term[M_TO(m)] || \
                 M_TYPE(m) == T_VRESP && !(role[M_TO(m)] == CAN && term[M_TO(m)] == M_TERM(m) && \
                                           M_AGE(m) < LHI))

inline purge() {
  h_i = 0;
  do
  :: h_i >= K -> break
  :: h_i < K ->
     if
     :: msg[h_i] != 0 && DEAD(msg[h_i]) -> msg[h_i] = 0
     :: else -> skip
     fi;
     h_i++
  od;
  sortbag()
}

inline send(m) {             /* into the first free slot; lost when the bag is full */
  h_i = 0;
  do
  :: h_i >= K -> break
  :: h_i < K && msg[h_i] == 0 -> msg[h_i] = m; break
  :: h_i < K && msg[h_i] != 0 -> h_i++
  od
}

inline clearLeader(x) {      /* forget leader-only state (canonical states) */
  office[x] = 0; echo[x] = WLO;
  h_j = 0;
  do
  :: h_j >= N -> break
  :: h_j < N -> stmp[x*N + h_j] = NOSTAMP; h_j++
  od
}

inline stepDown(x) {
  role[x] = FOL; qage[x] = LHI; clearLeader(x);
  if
  :: x == W -> cidx[x] = 0; derive(x)
  :: else -> skip
  fi;
#ifndef MUTANT_SELF_HEARD
  heard[x] = 0                  /* its own office counts as hearing from a leader */
#endif
}

inline adoptTerm(x, t) {     /* a newer term: forget the vote, stop leading */
  if
  :: t > term[x] ->
     term[x] = t; voted[x] = NOBODY;
     if
     :: role[x] == LEAD -> stepDown(x)
     :: else -> role[x] = FOL
     fi
  :: else -> skip
  fi
}

inline grant(x, e, age) {    /* standing for G at epoch e resting on an event age old */
  if
  :: age < LHI && e > sep[x] -> sep[x] = e; sage[x] = age
  :: age < LHI && e == sep[x] -> sage[x] = MIN(sage[x], age)
  :: else -> skip
  fi
}

/* ---------------------------------------------------------------------------- */

inline tick() {
  printf("~tick\n");
  h_x = 0;
  do
  :: h_x >= N -> break
  :: h_x < N ->
#ifdef MUTANT_SELF_HEARD
     heard[h_x] = MIN(heard[h_x] + 1, ETLO);
#else
     heard[h_x] = (role[h_x] == LEAD -> 0 : MIN(heard[h_x] + 1, ETLO));
#endif
     sage[h_x] = MIN(sage[h_x] + 1, LHI);
     if
     :: sage[h_x] >= LHI && !act[h_x] -> sep[h_x] = 0     /* spent standing is nothing */
     :: else -> skip
     fi;
     if
     :: role[h_x] == LEAD ->
        qage[h_x] = MIN(qage[h_x] + 1, LHI);
        office[h_x] = MIN(office[h_x] + 1, W2LO);
        echo[h_x] = MIN(echo[h_x] + 1, WLO);
        h_j = 0;
        do
        :: h_j >= N -> break
        :: h_j < N -> stmp[h_x*N + h_j] = MIN(stmp[h_x*N + h_j] + 1, NOSTAMP); h_j++
        od
     :: else -> skip
     fi;
     h_x++
  od;
  h_i = 0;
  do
  :: h_i >= K -> break
  :: h_i < K ->
     h_m = msg[h_i];
     if
     :: h_m != 0 ->
        h_a = MIN(M_AGE(h_m) + 1, LHI);
        h_b = (M_TYPE(h_m) == T_HB || M_TYPE(h_m) == T_ACK -> MIN(M_STAMP(h_m) + 1, NOSTAMP) : 0);
        msg[h_i] = MK(M_TYPE(h_m), M_FROM(h_m), M_TO(h_m), M_TERM(h_m), h_a, h_b,
                      M_LOG(h_m), M_IDX(h_m), M_X(h_m))
     :: else -> skip
     fi;
     h_i++
  od
}

/* time may not pass while a node is past an obligation of rule 1 or rule 3 */
#define OVERDUE(x) ((act[x] && sage[x] >= LHI) || (role[x] == LEAD && qage[x] >= LHI))

#define CAN_LEAD(x) (role[x] == LEAD && qage[x] < LHI)

inline heartbeat(l, p) {     /* rules 1, 2: a heartbeat, echoing p's newest stamp */
  h_y = stmp[l*N + p];
  if
  :: h_y != NOSTAMP && p == dOwn[l] -> echo[l] = 0
  :: else -> skip
  fi;
  send(MK(T_HB, l, p, term[l], 0, h_y, lg[l], cidx[l], 0));
  printf("%c -> %c: heartbeat term %d, log len %d, commit %d, names %c owner at epoch %d",
         NAME(l), NAME(p), term[l], LEN(lg[l]), cidx[l], NAME(dOwn[l]), dEp[l]);
  if
  :: h_y != NOSTAMP -> printf(", echoes %c's stamp taken %d ago\n", NAME(p), h_y)
  :: else -> printf("\n")
  fi
}

inline campaign(x) {
  term[x]++; voted[x] = x; role[x] = CAN; heard[x] = 0;
  printf("%c: campaigns for term %d\n", NAME(x), term[x])
}

inline requestVote(c, v) {
  send(MK(T_VREQ, c, v, term[c], 0, 0, 0, LEN(lg[c]), LASTTERM(lg[c])))
}

inline becomeLeader(c, age) {
  assert(leaderOf[term[c]] == NOBODY);          /* at most one leader per term */
  leaderOf[term[c]] = c;
  role[c] = LEAD; heard[c] = 0; qage[c] = age;
  clearLeader(c);
  assert(CNT(lg[c], term[c]) == 0);
  lg[c] = lg[c] + ONE(term[c]);                 /* first entry of the term names c */
  derive(c);
  if
  :: dOwn[c] == c -> grant(c, dEp[c], age)
  :: else -> skip
  fi;
  printf("%c: LEADER of term %d (standing from a round %d old); log says %c owns G at epoch %d\n",
         NAME(c), term[c], age, NAME(dOwn[c]), dEp[c])
}

inline activate(x) {
  printf("%c: ACTIVATES G at epoch %d (standing %d old)\n", NAME(x), cEp[x], sage[x]);
  assert(cEp[x] > lastAct);                     /* epochs of activations increase */
  assert(!act[1-x]);                            /* at most one node active */
  lastAct = cEp[x]; arec[x] = cEp[x]; act[x] = 1
}

inline release(x) {          /* rule 3 deactivation, or refusing an epoch not yet active */
  h_y = (act[x] -> arec[x] : cEp[x]);
  act[x] = 0; arec[x] = MAX(arec[x], h_y);
  printf("%c: DEACTIVATES/releases G at epoch %d (standing %d old)\n", NAME(x), h_y, sage[x]);
  released = MAX(released, h_y)
}

/* rule 4: the controller c may move G away from its owner x = dOwn[c] when
 *  (a) x confirmed the release of the current epoch, or
 *  (c) x cannot stand any more: c has not echoed x's stamp in a heartbeat naming x
 *      owner at this epoch for W1 (echo >= WLO), and either c has been in office
 *      for W2 (office >= W2LO) or (b) x led the term just before c's own.
 * (b) waives only the wait after taking office, never the wait for c's own echoes:
 * DESIGN.md's first draft let (b) move G at once, and the model found the run where
 * the controller itself had made x owner again and given it standing
 * (docs/PROTOCOL.md, counterexample 1). */
#define R4A(c)   (released >= dEp[c])
#define R4B(c)   (term[c] >= 2 && leaderOf[term[c]-1] == dOwn[c] && CNT(lg[c], term[c]-1) >= 1)
#ifdef MUTANT_B_AT_ONCE
#define R4C(c)   (dOwn[c] != c && (R4B(c) || echo[c] >= WLO && office[c] >= W2LO))
#else
#define R4C(c)   (dOwn[c] != c && echo[c] >= WLO && (office[c] >= W2LO || R4B(c)))
#endif
#define CAN_MOVE(c) (CAN_LEAD(c) && cidx[c] == LEN(lg[c]) && dEp[c] < MAXEP && \
                  CNT(lg[c], term[c]) < 3 && (R4A(c) || R4C(c)))

inline move(c, y) {
  printf("%c: controller moves G from %c (epoch %d) to %c (epoch %d) ",
         NAME(c), NAME(dOwn[c]), dEp[c], NAME(y), dEp[c] + 1);
  if
  :: R4A(c) -> printf("by rule 4(a): release of epoch %d confirmed\n", released)
  :: else -> printf("by rule 4(c): last echo to %c %d ago, in office %d, %c led term %d: %d\n",
                    NAME(dOwn[c]), echo[c], office[c], NAME(dOwn[c]), term[c] - 1, R4B(c))
  fi;
  h_k = CNT(lg[c], term[c]) - 1;
  mv[(term[c]-1)*2 + h_k] = y;
  lg[c] = lg[c] + ONE(term[c]);
  echo[c] = WLO;                                /* nothing echoed to the new owner yet */
  derive(c)
}

inline crash(x) {
  crashes++;
  act[x] = 0; role[x] = FOL; heard[x] = 0;
#ifdef MUTANT_BOOT
  heard[x] = ETLO;
#endif
#ifdef MUTANT_VOLATILE_REC
  arec[x] = 0;
#endif
  printf("%c: CRASHES and restarts (term %d, vote and log kept, activation record %d)\n", NAME(x), term[x], arec[x]);
  sage[x] = LHI; sep[x] = 0; qage[x] = LHI; clearLeader(x);
  cidx[x] = 0; derive(x);
  /* stamps of the old incarnation are refused by the new one: wipe them everywhere */
  h_j = 0;
  do
  :: h_j >= N -> break
  :: h_j < N -> stmp[h_j*N + x] = NOSTAMP; h_j++
  od;
  h_i = 0;
  do
  :: h_i >= K -> break
  :: h_i < K ->
     h_m = msg[h_i];
     if
     :: h_m != 0 && (M_TYPE(h_m) == T_HB && M_TO(h_m) == x || M_TYPE(h_m) == T_ACK && M_FROM(h_m) == x) ->
        msg[h_i] = MK(M_TYPE(h_m), M_FROM(h_m), M_TO(h_m), M_TERM(h_m), M_AGE(h_m), NOSTAMP,
                      M_LOG(h_m), M_IDX(h_m), M_X(h_m))
     :: else -> skip
     fi;
     h_i++
  od
}

/* ---- message handling ---- */

inline onHeartbeat(f, l, t, m) {
  adoptTerm(f, t);
  role[f] = FOL; heard[f] = 0;
  prefixLen(lg[f], M_LOG(m));
  if
  :: h_len < LEN(M_LOG(m)) ->                   /* not a prefix of ours: take the leader's */
     assert(h_len >= cidx[f]);                  /* committed entries are never replaced */
     lg[f] = M_LOG(m)
  :: else -> skip
  fi;
  /* the witness never activates: what it knows of the commit index matters only
   * while it leads, and a new leader may start from 0 (canonical states) */
  cidx[f] = (f == W -> 0 : MAX(cidx[f], MIN(M_IDX(m), LEN(M_LOG(m)))));
  derive(f);
  ownerAt(M_LOG(m), LEN(M_LOG(m)));
  if
  :: f != W && M_STAMP(m) != NOSTAMP && h_own == f -> grant(f, h_ep, M_STAMP(m))
#ifdef MUTANT_ANY_ECHO
  :: f != W && M_STAMP(m) != NOSTAMP && h_own != f -> grant(f, cEp[f], M_STAMP(m))
#endif
  :: else -> skip
  fi;
  /* stamp the ack only when the heartbeat names f owner: no other echo can give
   * standing (so a leader keeps stamps of owners only) */
#ifdef MUTANT_ANY_ECHO
  h_own = f;
#endif
  send(MK(T_ACK, f, l, t, M_AGE(m), (f != W && h_own == f -> 0 : NOSTAMP), 0, LEN(M_LOG(m)), 0))
}

inline onAck(l, f, t, m) {
  if
  :: role[l] == LEAD && t == term[l] ->
     if   /* commit: a quorum (l and f) holds an entry of l's own term */
     :: M_IDX(m) >= LEN(lg[l]) - CNT(lg[l], term[l]) + 1 && M_IDX(m) > cidx[l] ->
        cidx[l] = M_IDX(m); derive(l)
     :: else -> skip
     fi;
     qage[l] = MIN(qage[l], M_AGE(m));
     if
     :: dOwn[l] == l -> grant(l, dEp[l], M_AGE(m))
     :: else -> skip
     fi;
     if
     :: M_STAMP(m) != NOSTAMP -> stmp[l*N + f] = MIN(stmp[l*N + f], M_STAMP(m))
     :: else -> skip
     fi
  :: else -> skip
  fi
}

inline onVoteRequest(v, c, t, m) {
  if
  :: t < term[v] || role[v] == LEAD || heard[v] < VOTE_AFTER -> skip   /* stale or sticky */
  :: else ->
     adoptTerm(v, t);
     if
     :: (voted[v] == NOBODY || voted[v] == c) &&
        (M_X(m) > LASTTERM(lg[v]) || M_X(m) == LASTTERM(lg[v]) && M_IDX(m) >= LEN(lg[v])) ->
        voted[v] = c; heard[v] = 0;
        printf("%c: votes for %c in term %d\n", NAME(v), NAME(c), t);
        send(MK(T_VRESP, v, c, t, M_AGE(m), 0, 0, 0, 0))
     :: else -> skip
     fi
  fi
}

inline deliver(i) {
  h_m = msg[i]; msg[i] = 0;
  h_x = M_TO(h_m); h_y = M_FROM(h_m); h_z = M_TERM(h_m);
  if
  :: M_TYPE(h_m) == T_HB && h_z >= term[h_x] -> onHeartbeat(h_x, h_y, h_z, h_m)
  :: M_TYPE(h_m) == T_ACK -> onAck(h_x, h_y, h_z, h_m)
  :: M_TYPE(h_m) == T_VREQ -> onVoteRequest(h_x, h_y, h_z, h_m)
  :: M_TYPE(h_m) == T_VRESP && role[h_x] == CAN && h_z == term[h_x] && M_AGE(h_m) < LHI ->
     becomeLeader(h_x, M_AGE(h_m))
  :: else -> skip                              /* stale: dropped */
  fi
}

#ifdef NO_STEPDOWN
#define VOLUNTARY 0        /* a leader steps down only when its standing lapses */
#else
#define VOLUNTARY 1        /* and whenever it likes (transfer, shutdown) */
#endif
#define HB(l,p)   :: d_step { CAN_LEAD(l) -> heartbeat(l, p); END }
#define VREQ(c,v) :: d_step { role[c] == CAN -> requestVote(c, v); END }
#define CAMP(x)   :: d_step { role[x] != LEAD && heard[x] >= VOTE_AFTER && term[x] < MAXTERM -> campaign(x); END }
#define ACTV(x)   :: d_step { !act[x] && cOwn[x] == x && cEp[x] > arec[x] && sep[x] == cEp[x] && \
                              sage[x] < LHI -> activate(x); END }
#define REL(x)    :: d_step { act[x] || cOwn[x] == x && cEp[x] > arec[x] -> release(x); END }
#define MOVE(c,y) :: d_step { CAN_MOVE(c) -> move(c, y); END }
#define DOWN(x)   :: d_step { role[x] == LEAD && (VOLUNTARY || qage[x] >= LHI) -> printf("%c: steps down\n", NAME(x)); stepDown(x); END }
#define CRASH(x)  :: d_step { crashes < MAXCRASH -> crash(x); END }
#define DLV(i)    :: d_step { msg[i] != 0 -> deliver(i); END }
#define LOSE(i)   :: d_step { msg[i] != 0 -> msg[i] = 0; END }
#ifdef DUP
#define DUPL(i)   :: d_step { msg[i] != 0 -> h_dup = msg[i]; deliver(i); send(h_dup); END }
#else
#define DUPL(i)
#endif

active proctype cluster()
{
  d_step {
    /* a steady cluster: A leads term 1 and has just had a heartbeat acknowledged by a
     * quorum; every log holds term 1's first entry, committed; G is owned by B at
     * epoch 1 (B has no standing yet, so it is not active). MAXTERM-1 more elections
     * may follow. */
    h_x = 0;
    do
    :: h_x > MAXEP -> break
    :: h_x <= MAXEP -> gOwn[h_x] = NOBODY; h_x++
    od;
    h_x = 0;
    do
    :: h_x > MAXTERM -> break
    :: h_x <= MAXTERM -> leaderOf[h_x] = NOBODY; h_x++
    od;
    leaderOf[1] = A;
    h_x = 0;
    do
    :: h_x >= N -> break
    :: h_x < N ->
       term[h_x] = 1; voted[h_x] = A; lg[h_x] = ONE(1); arec[h_x] = 0;
       role[h_x] = FOL; cidx[h_x] = (h_x == W -> 0 : 1); act[h_x] = 0; heard[h_x] = 0;
       sage[h_x] = LHI; sep[h_x] = 0; qage[h_x] = LHI; clearLeader(h_x);
       h_x++
    od;
    role[A] = LEAD; qage[A] = 0; office[A] = W2LO;
    derive(A); derive(B); derive(W);
    printf("model: LHI=%d ETLO=%d WLO=%d W2LO=%d MAXTERM=%d MAXEP=%d MAXCRASH=%d K=%d\n",
           LHI, ETLO, WLO, W2LO, MAXTERM, MAXEP, MAXCRASH, K)
  };
  do
  :: d_step { !OVERDUE(A) && !OVERDUE(B) && !OVERDUE(W) -> tick(); END }
  HB(A,B) HB(A,W) HB(B,A) HB(B,W) HB(W,A) HB(W,B)
  CAMP(A) CAMP(B) CAMP(W)
  VREQ(A,B) VREQ(A,W) VREQ(B,A) VREQ(B,W) VREQ(W,A) VREQ(W,B)
  DLV(0) LOSE(0) DUPL(0)
#if K >= 2
  DLV(1) LOSE(1) DUPL(1)
#endif
#if K >= 3
  DLV(2) LOSE(2) DUPL(2)
#endif
#if K >= 4
  DLV(3) LOSE(3) DUPL(3)
#endif
  ACTV(A) ACTV(B)
  REL(A) REL(B)
  MOVE(A,A) MOVE(A,B) MOVE(B,A) MOVE(B,B) MOVE(W,A) MOVE(W,B)
  DOWN(A) DOWN(B) DOWN(W)
  CRASH(A) CRASH(B) CRASH(W)
  od
}
