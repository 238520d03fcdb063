/// A binary min-heap ordered by (time, sequence): the simulator's event queue. Equal times
/// keep insertion order, so a run is a function of its seed.
struct EventQueue<Payload> {
    private var times: [Int64] = []
    private var seqs: [UInt64] = []
    private var payloads: [Payload] = []
    private var nextSeq: UInt64 = 0

    var isEmpty: Bool { times.isEmpty }
    var count: Int { times.count }
    var nextTime: Int64? { times.first }

    mutating func push(_ time: Int64, _ payload: Payload) {
        times.append(time)
        seqs.append(nextSeq)
        payloads.append(payload)
        nextSeq &+= 1
        var child = times.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: Int64, payload: Payload)? {
        guard !times.isEmpty else { return nil }
        let time = times[0]
        let last = times.count - 1
        swapAt(0, last)
        times.removeLast()
        seqs.removeLast()
        let payload = payloads.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < times.count, less(left, smallest) { smallest = left }
            if right < times.count, less(right, smallest) { smallest = right }
            if smallest == parent { break }
            swapAt(parent, smallest)
            parent = smallest
        }
        return (time, payload)
    }

    private func less(_ i: Int, _ j: Int) -> Bool {
        times[i] < times[j] || (times[i] == times[j] && seqs[i] < seqs[j])
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        times.swapAt(i, j)
        seqs.swapAt(i, j)
        payloads.swapAt(i, j)
    }
}
