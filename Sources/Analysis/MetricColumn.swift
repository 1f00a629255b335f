// The metric columns of a table: how each is computed from a run's metric groups, its unit and
// which way is better; and the columns derived from the model alone.
import Foundation
import RunStore

/// One metric column of a table: its id (used by --metrics, table.reference and CSV headers),
/// how it is computed from a run's metric groups, and which way is better.
public struct MetricColumn: Sendable, Equatable {
    public var id: String
    public var title: String
    public var lowerIsBetter: Bool
    /// Decimals shown in md/latex (CSV always has full precision).
    public var digits: Int
    public var definition: String
    /// A property of the data, not of the model (the guessing baseline): never bold.
    public var isBaseline = false

    /// The column's unit; losses and perplexity count per `token` ("byte" for byte-level text).
    public func unit(_ token: String) -> String {
        switch id {
        case "final_loss", "best_loss", "gap", "guess_loss", "whole_loss": "nats/\(token)"
        case "ppl": "per \(token)"
        case "accuracy", "guess_accuracy": "fraction"
        case "maxvio_global", "maxvio_batch": "max/mean − 1"
        case "tokens_per_s": "tokens/s"
        case "bits_per_byte": "bits/byte"
        case "source_mi": "nats"
        case "mtp_loss": "nats/\(token)"
        case "max_logit": "logit"
        default: ""
        }
    }

    public static let all: [MetricColumn] = [
        MetricColumn(id: "final_loss", title: "final eval loss", lowerIsBetter: true, digits: 4,
                     definition: "eval loss at the last evaluation"),
        MetricColumn(id: "best_loss", title: "best eval loss", lowerIsBetter: true, digits: 4,
                     definition: "lowest eval loss over all evaluations"),
        MetricColumn(id: "whole_loss", title: "held-out loss (whole split)", lowerIsBetter: true, digits: 4,
                     definition: "loss over every token of the held-out documents, at the end of the run (text with data.text.split: documents)"),
        MetricColumn(id: "ppl", title: "ppl", lowerIsBetter: true, digits: 3,
                     definition: "eval perplexity at the last evaluation"),
        MetricColumn(id: "gap", title: "gap to optimum", lowerIsBetter: true, digits: 4,
                     definition: "eval loss − Bayes-optimal loss at the last evaluation (data with a known optimum)"),
        MetricColumn(id: "accuracy", title: "MQAR acc", lowerIsBetter: false, digits: 3,
                     definition: "MQAR answer accuracy at the last evaluation"),
        MetricColumn(id: "guess_accuracy", title: "guessing acc", lowerIsBetter: false, digits: 3,
                     definition: "MQAR accuracy of the best strategy without recall (predict the values not yet answered) on the same validation set, exact", isBaseline: true),
        MetricColumn(id: "guess_loss", title: "guessing loss", lowerIsBetter: true, digits: 4,
                     definition: "MQAR loss of the best strategy without recall on the same validation set, exact", isBaseline: true),
        MetricColumn(id: "maxvio_global", title: "MaxVio_global", lowerIsBetter: true, digits: 3,
                     definition: "MaxVio of expert loads over the whole validation set at the last evaluation, mean over MoE layers"),
        MetricColumn(id: "maxvio_batch", title: "MaxVio_batch", lowerIsBetter: true, digits: 3,
                     definition: "mean over all training steps of the per-batch MaxVio (train `maxvio`)"),
        MetricColumn(id: "bits_per_byte", title: "eval bits/byte", lowerIsBetter: true, digits: 4,
                     definition: "eval loss per byte of the text the target tokens stand for, in bits, at the last evaluation (token data with a tokenizer)"),
        MetricColumn(id: "source_mi", title: "I(source; expert)", lowerIsBetter: false, digits: 4,
                     definition: "mutual information between a validation token's source and the experts it selects, at the last evaluation, mean over MoE layers (MoE on data with known sources: Markov mixture sources, text files)"),
        MetricColumn(id: "mtp_loss", title: "MTP loss", lowerIsBetter: true, digits: 4,
                     definition: "train loss of the first MTP module (the token 2 ahead), mean over the last 10% of logged steps (runs with model.mtp)"),
        MetricColumn(id: "max_logit", title: "max logit", lowerIsBetter: true, digits: 2,
                     definition: "largest attention logit of any head over all logged training steps, before QK-clip (runs with train.qk_clip)"),
        MetricColumn(id: "tokens_per_s", title: "throughput", lowerIsBetter: false, digits: 0,
                     definition: "mean training throughput over all logged steps (wall clock)"),
    ]

    public static func named(_ id: String) -> MetricColumn? { all.first { $0.id == id } }

    /// Every column's value for one run.
    public static func extract(train: MetricTable, eval: MetricTable) -> [String: Double] {
        func last(_ column: String) -> Double { eval.columns[column]?.last ?? .nan }
        func mean(_ column: String) -> Double { Summary(train.columns[column] ?? []).mean }
        let losses = (eval.columns["loss"] ?? []).filter(\.isFinite)
        let mtp = train.columns["mtp_loss_0"] ?? []
        let maxLogits = (train.columns["max_logit"] ?? []).filter(\.isFinite)
        return ["final_loss": last("loss"), "best_loss": losses.min() ?? .nan, "whole_loss": last("whole_loss"), "ppl": last("ppl"), "gap": last("gap"),
                "accuracy": last("accuracy"), "guess_accuracy": last("guess_accuracy"), "guess_loss": last("guess_loss"),
                "maxvio_global": last("maxvio_global"),
                "maxvio_batch": mean("maxvio"), "tokens_per_s": mean("tokens_per_s"), "bits_per_byte": last("bits_per_byte"),
                "source_mi": last("source_mi"),
                "mtp_loss": Summary(Array(mtp.suffix(max(1, mtp.count / 10)))).mean,
                "max_logit": maxLogits.max() ?? .nan]
    }
}

/// The model numbers shown beside the metrics, from the run file's model_* attributes.
public struct DerivedColumn: Sendable, Equatable {
    public var id: String
    public var title: String
    public static let all: [DerivedColumn] = [
        DerivedColumn(id: "total_parameters", title: "params"),
        DerivedColumn(id: "active_parameters", title: "active params"),
        DerivedColumn(id: "kv_cache_per_token", title: "KV cache/token"),
        DerivedColumn(id: "flops_per_token", title: "FLOPs/token"),
    ]
}
