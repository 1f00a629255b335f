// `ablate plan`: from pilot runs (or a finished sweep), the seeds each claim needs for a chosen
// power at α after correction, and the wall time those seeds cost on this machine, from the
// pilot's measured time per run and the jobs that run side by side.
import Foundation

public struct StudyPlan: Sendable {
    public struct Line: Sendable {
        public var claim: ClaimResult
        /// Rows (seed groups) the claim's test reads.
        public var rows: Int
        /// Seeds the sweep has now (the most any involved row completed).
        public var seedsNow: Int
        /// Seeds per row for the power asked (nil: no min_effect, no spread, or past 10,000).
        public var seedsNeeded: Int?
        /// Wall seconds to run the claim's rows at seedsNeeded from scratch, and beyond what is done.
        public var totalSeconds: Double?
        public var extraSeconds: Double?
    }

    public var lines: [Line]
    public var power: Double
    public var alpha: Double
    public var correction: Correction
    public var jobs: Int
    /// Mean wall seconds of one completed run, and of tokens/s, over the pilot.
    public var secondsPerRun: Double?
    public var tokensPerSecond: Double?
    /// Rows of the whole sweep; the sweep's cost at the largest seeds needed.
    public var sweepRows: Int
    public var sweepSeconds: Double?

    /// `jobs`: runs side by side (the studies run one thread per job, so the machine's cores).
    public static func make(_ sweep: SweepData, settings: TableSettings, power: Double, jobs: Int) -> StudyPlan {
        let claims = ClaimEvaluation.evaluate(settings.claims, groups: sweep.groups, alpha: settings.alpha,
                                              correction: settings.correction, power: power)
        let completed = sweep.runs.filter(\.isComplete)
        let walls = completed.compactMap(\.wallSeconds)
        let secondsPerRun = walls.isEmpty ? nil : walls.reduce(0, +) / Double(walls.count)
        let rates = completed.map { $0.metrics["tokens_per_s"] ?? .nan }.filter(\.isFinite)
        let jobs = max(jobs, 1)
        func cost(rows: Int, seeds: Int) -> Double? { secondsPerRun.map { Double(rows * seeds) * $0 / Double(jobs) } }
        var lines: [Line] = []
        for claim in claims {
            let involved: [SweepGroup]
            switch claim.spec.test {
            case .contrast(let a, let b), .reach(let a, let b): involved = sweep.groups.filter { $0.matches(a) || $0.matches(b) }
            case .trend(_, _, let match): involved = sweep.groups.filter { $0.matches(match) }
            }
            let now = involved.map(\.completed.count).max() ?? 0
            let needed = claim.seedsNeeded
            lines.append(Line(claim: claim, rows: involved.count, seedsNow: now, seedsNeeded: needed,
                              totalSeconds: needed.flatMap { cost(rows: involved.count, seeds: $0) },
                              extraSeconds: needed.flatMap { cost(rows: involved.count, seeds: max($0 - now, 0)) }))
        }
        let most = lines.compactMap(\.seedsNeeded).max()
        return StudyPlan(lines: lines, power: power, alpha: settings.alpha, correction: settings.correction, jobs: jobs,
                         secondsPerRun: secondsPerRun, tokensPerSecond: rates.isEmpty ? nil : rates.reduce(0, +) / Double(rates.count),
                         sweepRows: sweep.groups.count, sweepSeconds: most.flatMap { cost(rows: sweep.groups.count, seeds: $0) })
    }

    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "—" }
        if seconds < 90 { return String(format: "%.0f s", seconds) }
        if seconds < 5400 { return String(format: "%.0f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }

    public var text: String {
        let k = max(lines.count, 1)
        var out = "seeds per row for \(Int((power * 100).rounded()))% power at each claim's min_effect, α = \(JSONValue.double(alpha).canonical)/\(k) per claim (Bonferroni; \(correction.rawValue) in the verdicts is at least as powerful)\n"
        if let s = secondsPerRun {
            out += String(format: "pilot: %.0f s per run", s) + (tokensPerSecond.map { String(format: " (%.0f tokens/s)", $0) } ?? "")
                + ", \(jobs) job(s) side by side\n\n"
        } else {
            out += "pilot: no completed run with a recorded wall time; no hours\n\n"
        }
        out += "| claim | verdict now | spread | min_effect | seeds now | seeds needed | rows | wall time (all seeds) | wall time (more seeds) |\n"
        out += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for line in lines {
            let c = line.claim
            let needed = line.seedsNeeded.map(String.init) ?? (c.spec.minEffect == nil ? "no min_effect" : (c.spread.isFinite && c.spread > 0 ? "> 10000" : "unknown"))
            out += "| \(c.spec.name) | \(c.verdict.rawValue) | \(c.spread.isFinite ? String(format: "%.4g", c.spread) : "—") | "
                + "\(c.spec.minEffect.map { JSONValue.double($0).canonical } ?? "—") | \(line.seedsNow) | \(needed) | \(line.rows) | "
                + "\(Self.duration(line.totalSeconds)) | \(Self.duration(line.extraSeconds)) |\n"
        }
        if let most = lines.compactMap(\.seedsNeeded).max() {
            out += "\nthe whole sweep (\(sweepRows) rows) at \(most) seeds: \(Self.duration(sweepSeconds)) with \(jobs) job(s)\n"
        }
        out += "spread: sd of the paired differences (contrasts) or of the trend's residuals, from these runs; seeds needed change as the pilot's spread does\n"
        return out
    }
}
