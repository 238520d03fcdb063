import Foundation
import TandemAgent

/// A drill's acceptance record as one self-contained HTML page (no scripts, no fetches):
/// the verdict and its checks, a timeline picture (SVG) of the probe's answers and the
/// phases, the data check, alarms, open issues, the log evidence and the steps.
public enum DrillReport {
    static func esc(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS 'UTC'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// The timeline: probe answers (green) and silences (red), the phases as marks.
    static func picture(_ r: DrillRecord) -> String {
        // Times as doubles (a record is a KV value anyone with a token may write: no
        // overflow, and the picture is bounded whatever it says).
        let fault = Double(r.faultWallMs ?? r.startWallMs), begin = Double(r.startWallMs)
        let start = max(-3_600_000, min(0, begin - fault))
        let end = max(0, min(86_400_000, Double(r.endWallMs ?? r.startWallMs) - fault))
        let span = max(end - start, 1)
        let width = 900.0, left = 110.0, right = 20.0
        func x(_ ms: Double) -> Double { left + (ms - start) / span * (width - left - right) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(80 + 22 * min(r.phases.count, 20))\" width=\"100%\" role=\"img\" aria-label=\"drill timeline\">"
        svg += "<text x=\"4\" y=\"34\" font-size=\"12\">client</text>"
        for run in (r.probe?.timeline ?? []).prefix(10_000) where run.count == 3 && run.allSatisfy(\.isFinite) {
            let x1 = x(run[0]), x2 = max(x(run[1]), x1 + 1)
            svg += "<rect x=\"\(x1)\" y=\"22\" width=\"\(x2 - x1)\" height=\"18\" fill=\"\(run[2] > 0 ? "#2da44e" : "#cf222e")\"/>"
        }
        if r.probe == nil { svg += "<text x=\"\(left)\" y=\"34\" font-size=\"12\" fill=\"#57606a\">no probe</text>" }
        // The time axis: a tick every step.
        let step = [10.0, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 30000].first { span / $0 <= 12 } ?? 60000
        var tick = (start / step).rounded(.up) * step
        var ticks = 0
        while tick <= end, ticks < 40 {
            ticks += 1
            svg += "<line x1=\"\(x(tick))\" y1=\"44\" x2=\"\(x(tick))\" y2=\"50\" stroke=\"#57606a\"/>"
            svg += "<text x=\"\(x(tick))\" y=\"62\" font-size=\"10\" text-anchor=\"middle\" fill=\"#57606a\">\(String(format: "%.0f", tick)) ms</text>"
            tick += step
        }
        for (i, phase) in r.phases.prefix(20).enumerated() {
            let y = 84 + 22 * i
            svg += "<text x=\"4\" y=\"\(y + 4)\" font-size=\"12\">\(esc(phase.name))</text>"
            if let at = phase.atMs, at.isFinite, abs(at) < 1e12 {
                svg += "<line x1=\"\(x(at))\" y1=\"20\" x2=\"\(x(at))\" y2=\"\(y)\" stroke=\"#0969da\" stroke-dasharray=\"2,3\"/>"
                svg += "<circle cx=\"\(x(at))\" cy=\"\(y)\" r=\"5\" fill=\"#0969da\"/>"
                svg += "<text x=\"\(x(at) + 8)\" y=\"\(y + 4)\" font-size=\"11\">\(String(format: "%.1f", at)) ms</text>"
            } else {
                svg += "<text x=\"\(left)\" y=\"\(y + 4)\" font-size=\"11\" fill=\"#57606a\">not seen</text>"
            }
        }
        return svg + "</svg>"
    }

    public static func html(_ r: DrillRecord) -> String {
        let verdict = r.state == "passed" ? "<b class=\"ok\">PASSED</b>" : r.state == "failed" ? "<b class=\"bad\">FAILED</b>" : "<b>\(esc(r.state.uppercased()))</b>"
        var h = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Drill \(esc(r.id))</title>
        <style>body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328;max-width:1000px}
        h1{font-size:20px}h2{font-size:15px;margin-top:22px}table{border-collapse:collapse}td,th{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
        .ok{color:#1a7f37}.bad{color:#cf222e}.muted{color:#57606a}code{font-size:12px}</style></head><body>
        <h1>Drill \(esc(r.id)): \(esc(r.scenario)) of \(esc(r.group)) — \(verdict)</h1>
        <table>
        <tr><th>Expected</th><td>\(esc(r.expected))</td></tr>
        <tr><th>Started</th><td>\(time(r.startWallMs)) by \(esc(r.startedBy)), run on \(esc(r.node))</td></tr>
        <tr><th>Fault</th><td>\(time(r.faultWallMs)) \(esc(r.fault ?? "-"))\(r.faultTarget.map { " on " + esc($0) } ?? "")</td></tr>
        <tr><th>Ended</th><td>\(time(r.endWallMs))</td></tr>
        <tr><th>Owner</th><td>\(esc(r.ownerBefore ?? "none")) (epoch \(r.epochBefore)) → \(esc(r.ownerAfter ?? "none")) (epoch \(r.epochAfter.map(String.init) ?? "?"))</td></tr>
        <tr><th>Interruption</th><td>\(r.interruptionMs.map { String(format: "%.1f ms", $0) } ?? "not measured (no probe)")\(r.maxInterruptionMs.map { String(format: " (allowed: %.1f ms)", $0) } ?? "")</td></tr>
        <tr><th>Operator</th><td>\(esc(r.operator ?? "not confirmed"))</td></tr>
        </table>
        <h2>Checks</h2><table>
        """
        for c in r.checks {
            h += "<tr><td class=\"\(c.passed ? "ok" : "bad")\">\(c.passed ? "pass" : "FAIL")</td><td>\(esc(c.what))</td><td class=\"muted\">\(esc(c.detail))</td></tr>"
        }
        h += "</table><h2>Timeline</h2>" + picture(r)
        h += "<h2>Phases</h2><table>"
        for p in r.phases {
            h += "<tr><td>\(esc(p.name))</td><td>\(p.atMs.map { String(format: "%.1f ms", $0) } ?? "-")</td><td class=\"muted\">\(esc(p.detail))</td></tr>"
        }
        h += "</table>"
        if let probe = r.probe {
            h += "<h2>Client probe</h2><p>\(esc(probe.target)): \(probe.answered) of \(probe.sent) attempts answered; longest gap \(String(format: "%.1f ms", probe.longestGapMs))"
            h += probe.answeredBy.isEmpty ? "" : "; answered by \(esc(probe.answeredBy.joined(separator: " → ")))"
            h += "</p>"
        }
        if let c = r.consistency {
            h += "<h2>Data consistency</h2><table>"
            for (node, value) in c.replicas.sorted(by: { $0.key < $1.key }) { h += "<tr><td>\(esc(node))</td><td>\(esc(value))</td></tr>" }
            h += "</table><p>Marker writes: \(c.markersWritten) tried, \(c.markersAcknowledged) acknowledged, \(c.markersPresent) present afterwards\(c.missing.isEmpty ? "" : "; missing: " + esc(c.missing.joined(separator: ", ")))</p>"
        }
        h += "<h2>Alarms</h2><p>raised: \(r.alarmsRaised.isEmpty ? "none" : esc(r.alarmsRaised.joined(separator: "; ")))<br>cleared: \(r.alarmsCleared.isEmpty ? "none" : esc(r.alarmsCleared.joined(separator: "; ")))</p>"
        h += "<h2>Open issues</h2><p>\(r.openIssues.isEmpty ? "none" : esc(r.openIssues.joined(separator: "; ")))</p>"
        h += "<h2>Log evidence (every node, in the drill's window)</h2><table>"
        for e in r.events {
            h += "<tr><td class=\"muted\">\(esc(time(e.wallMilliseconds)))</td><td>\(esc(e.node))</td><td>\(esc(e.kind))</td><td>\(esc(e.reason))\(e.evidence.isEmpty ? "" : " <span class=\"muted\">[\(esc(e.evidence))]</span>")</td></tr>"
        }
        h += "</table><h2>Steps</h2><ol>" + r.steps.map { "<li><code>\(esc($0))</code></li>" }.joined() + "</ol></body></html>\n"
        return h
    }
}
