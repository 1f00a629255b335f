// Exports a sweep as a Jupyter notebook (nbformat 4.5) that reads the run files itself with h5py
// and pandas and plots with matplotlib. One path variable (SWEEP_DIR) at the top; which
// sections exist is decided here, from the data the sweep has (MoE layers, non-zero balancing
// biases, evaluations, varying keys, different KV-cache sizes or parameter counts).
import Foundation
import RunStore

public enum NotebookExport {
    /// What the sweep has data for; each flag turns on notebook sections.
    public struct Sections: Sendable, Equatable {
        public var lossCurves: Bool
        public var finalLossVsAxis: Bool
        public var expertLoad: Bool
        public var maxVio: Bool
        public var biasTrajectories: Bool
        public var specialisation: Bool
        public var kvCacheVsLoss: Bool
        public var parametersVsLoss: Bool
        /// The evaluation sweep of a tuned spec: each variant's tuning curve, from `<sweep>-tune`.
        public var tuning: Bool = false
    }

    /// The notebook as JSON text. `sweepPath` is written into SWEEP_DIR as given (make it
    /// relative to the notebook's folder so that the notebook runs where it is saved).
    /// `tablePath`: the JSON `ablate table --format json` gives for this sweep, written beside the
    /// notebook (relative to its folder); the notebook shows and plots those numbers instead of
    /// recomputing them.
    public static func notebook(_ sweep: SweepData, sweepPath: String, tablePath: String, command: String) throws -> String {
        let sections = Sections(sweep)
        var cells: [[String: Any]] = []
        func markdown(_ text: String) { cells.append(["cell_type": "markdown", "metadata": [String: Any](), "source": lines(text)]) }
        func code(_ text: String) {
            cells.append(["cell_type": "code", "metadata": [String: Any](), "execution_count": NSNull(),
                          "outputs": [Any](), "source": lines(text)])
        }

        let done = sweep.runs.filter(\.isComplete).count
        // Every optional part: whether the sweep has its data, its (markdown, code) cells, and
        // what the header says when it is left out.
        let parts: [(on: Bool, cells: [(markdown: String, code: String)], missing: String?)] = [
            (sections.lossCurves, [
                ("## Loss curves\n\nTraining loss (smoothed over ~2% of the steps) and evaluation loss per group: mean over seeds with a ± std band; the dashed line is the Bayes-optimal loss where the data has one.", lossCurves),
                ("## Final evaluation metrics and claims\n\n`ablate table`'s numbers, read from `TABLE_JSON`: per row n, the mean and its 95% t interval, every seed's value; then the spec's claims with their verdicts.", finalTable),
            ], nil),
            (sections.finalLossVsAxis, [
                ("## Final eval loss (and MQAR accuracy) against each varying key\n\nOne panel per varying key (keys that always change together, as in a `zip`, share a panel); one line per combination of the other keys; each seed a dot, the mean with its 95% t interval (from `TABLE_JSON`). On MQAR a second figure shows the accuracy, with the dotted line of the guessing baseline (the best a model without recall scores on the same validation set).", finalVsAxis),
            ], "final eval loss against the varying axes (needs evaluations and a key other than the seed that varies)"),
            (sections.expertLoad, [
                ("## Expert load per layer over training\n\nTokens routed to each expert divided by the mean load of the layer at that step (1 = perfectly balanced), for the first run of each group.", expertLoad),
                ("## MaxVio over training\n\nMaxVio_batch (per training batch, mean over MoE layers) and MaxVio_global (over the validation set at each evaluation): mean over seeds ± std.", maxVio),
            ], "expert loads and MaxVio (no MoE layer in any run)"),
            (sections.biasTrajectories, [
                ("## Balancing-bias trajectories\n\nThe loss-free balancing bias of every expert after each step, for the first run of each group that has non-zero biases.", biases),
            ], "balancing-bias trajectories (no run has a non-zero balancing bias)"),
            (sections.specialisation, [
                ("## Expert specialisation\n\nOn data whose validation sequences have known sources (Markov mixture sources, text files): the mutual information I(source; expert) between a token's source and the experts it selects, in nats, at each evaluation (mean over MoE layers; mean over seeds ± std); then, for the first run of each group, the share of each source's selections that each expert receives at the last evaluation, per MoE layer.", specialisation),
            ], "expert specialisation (needs MoE runs on data with known sources)"),
            (sections.kvCacheVsLoss, [
                ("## KV cache against loss\n\nKV-cache elements per token (from the run files' `model_kv_cache_per_token`: MHA 2·n_h·d_h·l, GQA 2·n_g·d_h·l, MQA 2·d_h·l, MLA (d_c + d_rope)·l) against the final eval loss, and against the MQAR accuracy where the data has it; each seed a dot, the mean with its 95% t interval per group (from `TABLE_JSON`).", kvCache),
            ], "KV cache against loss (needs evaluations and at least two KV-cache sizes)"),
            (sections.tuning, [
                ("## Tuning curves\n\nThe spec's `tune` block trained each variant at every point of its grid on the tuning seeds (the sweep `<name>-tune` beside this one). Per variant: `tune.metric` at each point, mean over the tuning seeds, as `ablate sweep` computed it when it chose (`tuning.json` beside the sweep; a point with a diverged run is a cross at the top), and the point the evaluation sweep trains (the star). Only the evaluation seeds reach the table and the claims.", tuningCurves),
            ], nil),
            (sections.parametersVsLoss, [
                ("## Parameters against loss\n\nFinal eval loss against the total trained parameters and against the parameters active per token (`model_total_parameters`, `model_active_parameters`); each seed a dot, the mean with its 95% t interval per group (from `TABLE_JSON`).", parameters),
            ], "parameters against loss (needs evaluations and at least two parameter counts)"),
        ]
        let omitted = parts.filter { !$0.on }.compactMap(\.missing)
        markdown("""
            # Sweep `\(sweep.manifest.spec)`

            Exported by `\(command)` from `\(sweep.directory)`: \(sweep.manifest.cells.count) cell(s), \
            \(done) completed when exported; varying \(sweep.manifest.varyingKeys.isEmpty ? "nothing" : sweep.manifest.varyingKeys.map { "`\($0)`" }.joined(separator: ", ")).

            The notebook reads `sweep.json` and the run files (schema: `docs/hdf5-schema.md`) from `SWEEP_DIR` below; \
            change it to point at another copy of the sweep. The final numbers (means, 95% intervals, every \
            seed's value, contrasts and the claims' verdicts) come from `TABLE_JSON`, written by the same export \
            with `ablate table`'s statistics, so nothing here recomputes them. Groups are cells that differ only \
            by seed; bands on curves are ± one sample standard deviation over seeds. A seed sets the model's initialisation and, \
            unless the spec fixes `data.seed`, the data (its order, and its sources or samples) as well: the ± then \
            shows the variance over both, and a paired difference between groups at the same seed \
            (`ablate table`'s Δ and p) cancels the part the groups share.
            """ + (omitted.isEmpty ? "" : "\n\nNot included, for lack of data: " + omitted.joined(separator: "; ") + "."))
        if sweep.manifest.specFile.isEmpty {
            // Plain `ablate run` directories have no sweep.json: the notebook carries the manifest.
            let embedded = String(decoding: try JSONEncoder().encode(sweep.manifest), as: UTF8.self)
            code("SWEEP_DIR = \(CanonicalJSON.quote(sweepPath))\nTABLE_JSON = \(CanonicalJSON.quote(tablePath))\nEMBEDDED_MANIFEST = \(CanonicalJSON.quote(embedded))  # no sweep.json there")
        } else {
            code("SWEEP_DIR = \(CanonicalJSON.quote(sweepPath))\nTABLE_JSON = \(CanonicalJSON.quote(tablePath))")
        }
        code(setup)
        for part in parts where part.on {
            for cell in part.cells {
                markdown(cell.markdown)
                code(cell.code)
            }
        }
        for index in cells.indices { cells[index]["id"] = "cell-\(index)" }

        let document: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": [
                "kernelspec": ["name": "python3", "display_name": "Python 3", "language": "python"],
                "language_info": ["name": "python"],
                "ablate": ["spec": sweep.manifest.spec, "sweep_dir": sweep.directory, "command": command],
            ],
            "cells": cells,
        ]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// `target` relative to `directory` (both made absolute first), for SWEEP_DIR.
    public static func relativePath(_ target: String, from directory: String) -> String {
        let to = URL(fileURLWithPath: target).standardizedFileURL.pathComponents
        let from = URL(fileURLWithPath: directory).standardizedFileURL.pathComponents
        var common = 0
        while common < to.count, common < from.count, to[common] == from[common] { common += 1 }
        let parts = Array(repeating: "..", count: from.count - common) + to[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// Notebook sources are lists of lines, each but the last ending in a newline.
    static func lines(_ text: String) -> [String] {
        let parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return parts.enumerated().map { $0.offset == parts.count - 1 ? $0.element : $0.element + "\n" }
    }

    static let setup = #"""
        import json, os
        os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")  # also read run files still being written
        import h5py
        import numpy as np
        import pandas as pd
        import matplotlib.pyplot as plt
        %matplotlib inline

        if os.path.exists(os.path.join(SWEEP_DIR, "sweep.json")):
            with open(os.path.join(SWEEP_DIR, "sweep.json")) as f:
                manifest = json.load(f)
        else:  # a directory of plain `ablate run` runs
            manifest = json.loads(globals()["EMBEDDED_MANIFEST"])
        VARYING = [k for k in manifest["varying_keys"] if k != "seed"]
        MAX_GROUPS = 8  # per-run figures (loads, biases) for at most this many groups

        def short(path):
            return ".".join(path.split(".")[-2:])

        def show(value):
            return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))

        def group_label(assignments):
            parts = [f"{short(k)}={show(assignments[k])}" for k in VARYING if k in assignments]
            return ",".join(parts) if parts else "base"

        def read_group(f, name):
            if name not in f:
                return pd.DataFrame()
            return pd.DataFrame({key: f[name][key][:] for key in f[name]})

        runs = []
        for cell in manifest["cells"]:
            path = os.path.join(SWEEP_DIR, cell["run_file"])
            if not os.path.exists(path):
                continue
            try:
                f = h5py.File(path, "r")
            except OSError as error:
                print(f"skipping {path}: {error}")
                continue
            with f:
                moe = []
                if "moe" in f:
                    for name in sorted(f["moe"], key=lambda name: int(name.split("_")[1])):
                        moe.append({key: f["moe"][name][key][:] for key in f["moe"][name]})
                source_loads = None
                if "tensors/source_loads" in f:
                    t = f["tensors/source_loads"]
                    source_loads = dict(step=int(f["tensors/source_loads_steps"][-1]), loads=t[-1],
                                        sources=[str(s) for s in t.attrs["labels_source"]],
                                        layers=[str(s) for s in t.attrs["labels_layer"]])
                assignments = {k: json.loads(v) for k, v in cell["assignments"].items()}
                runs.append(dict(run_id=cell["run_id"], seed=cell["seed"], assignments=assignments,
                                 group=group_label(assignments), status=f.attrs["status"],
                                 model={k[len("model_"):]: int(f.attrs[k]) for k in f.attrs if k.startswith("model_")},
                                 train=read_group(f, "metrics/train"), eval=read_group(f, "metrics/eval"), moe=moe,
                                 source_loads=source_loads))

        groups = list(dict.fromkeys(run["group"] for run in runs))
        completed = [run for run in runs if run["status"] == "completed"]

        def members(group, only_completed=False):
            return [r for r in (completed if only_completed else runs) if r["group"] == group]

        def final(run, column):
            ev = run["eval"]
            return float(ev[column].iloc[-1]) if column in ev and len(ev) else float("nan")

        def final_baseline(column):
            """A data property shared by every run (MQAR's guessing baseline), or None when the runs
            lack it or differ (then the table's column has each row's)."""
            values = {final(r, column) for r in runs} - {float("nan")}
            values = {v for v in values if v == v}
            return values.pop() if len(values) == 1 else None

        def band(ax, frames, column, label, smooth=1):
            """Mean over seeds with a ± std band; each frame has a 'step' column."""
            series = [fr.set_index("step")[column].rolling(smooth, min_periods=1).mean()
                      for fr in frames if column in fr and len(fr) and fr[column].notna().any()]
            if not series:
                return None
            table = pd.concat(series, axis=1)
            mean = table.mean(axis=1)
            line, = ax.plot(mean.index, mean.values, label=f"{label} (n={table.shape[1]})")
            if table.shape[1] > 1:
                std = table.std(axis=1, ddof=1)
                ax.fill_between(mean.index, mean - std, mean + std, alpha=0.25, color=line.get_color())
            return line

        with open(TABLE_JSON) as f:
            TABLE = json.load(f)  # `ablate table SWEEP --format json`: rows, claims, sections
        ROWS = [row for row in TABLE["rows"] if row["completed"] > 0]

        def seeds_and_ci(ax, x, stats, color=None, label=None):
            """Every seed's value as a dot, and the mean with its 95% t interval (from TABLE_JSON)."""
            values = [s["value"] for s in stats["seeds"] if s["value"] is not None]
            line = ax.errorbar([x], [stats["mean"]], marker="o", capsize=3, color=color, label=label,
                               yerr=[[stats["mean"] - stats["ci"][0]], [stats["ci"][1] - stats["mean"]]] if stats["ci"] else None)
            ax.scatter([x] * len(values), values, s=10, alpha=0.5, color=line[0].get_color())
            return line[0].get_color()

        def against(ax, x_key, metric, xlabel, ylabel):
            """One point per row: x from the run files' model_* attribute; y = the row's metric, seeds and CI."""
            rows = [r for r in ROWS if metric in r["metrics"] and r["metrics"][metric]["mean"] is not None and x_key in r["derived"]]
            if not rows:
                ax.set_visible(False)
                return
            xs = [r["derived"][x_key] for r in rows]
            for r, x in zip(rows, xs):
                seeds_and_ci(ax, x, r["metrics"][metric], label=r["label"])
            if max(xs) > 4 * min(xs) > 0:
                ax.set_xscale("log", base=2)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7)

        print(f"{manifest['spec']}: {len(runs)} of {len(manifest['cells'])} run files readable, "
              f"{len(completed)} completed, {len(groups)} group(s)")
        """#

    static let lossCurves = #"""
        has_eval = any(len(r["eval"]) for r in runs)
        fig, axes = plt.subplots(1, 2 if has_eval else 1, figsize=(13 if has_eval else 7, 4.5), squeeze=False)
        for group in groups:
            frames = [r["train"] for r in members(group)]
            n = max(len(fr) for fr in frames)
            band(axes[0][0], frames, "loss", group, smooth=max(1, n // 50))
            if has_eval:
                band(axes[0][1], [r["eval"] for r in members(group)], "loss", group)
        axes[0][0].set_title("training loss")
        if has_eval:
            optimum = [float(np.nanmean(r["eval"]["optimum"])) for r in runs
                       if "optimum" in r["eval"] and r["eval"]["optimum"].notna().any()]
            if optimum:
                axes[0][1].axhline(np.mean(optimum), color="black", linestyle="--", linewidth=1, label="Bayes optimum")
            guess = final_baseline("guess_loss")
            if guess is not None:
                axes[0][1].axhline(guess, color="gray", linestyle=":", linewidth=1, label="guessing (no recall)")
            axes[0][1].set_title("evaluation loss")
        for ax in axes[0]:
            ax.set_xlabel("step")
            ax.set_ylabel("loss (nats)")
            ax.legend(fontsize=8)
        plt.tight_layout()
        plt.show()
        """#

    static let finalTable = #"""
        metric_ids = [m["id"] for m in TABLE["metrics"]]
        summary = pd.DataFrame([
            {"row": r["label"], "n": f'{r["completed"]}/{r["cells"]}',
             **{f"{m} mean": r["metrics"][m]["mean"] for m in metric_ids},
             **{f"{m} 95% CI": (None if r["metrics"][m]["ci"] is None else tuple(round(c, 4) for c in r["metrics"][m]["ci"])) for m in metric_ids},
             **{f"{m} by seed": [None if s["value"] is None else round(s["value"], 4) for s in r["metrics"][m]["seeds"]] for m in metric_ids[:2]}}
            for r in TABLE["rows"]])
        display(summary)
        if TABLE["claims"]:
            display(pd.DataFrame([{k: c[k] for k in ["name", "verdict", "estimate", "ci", "p", "p_adjusted", "pairs", "seeds_needed"]}
                                  for c in TABLE["claims"]]))
        for note in TABLE["notes"]:
            print(note)
        """#

    static let finalVsAxis = #"""
        def axis_value(row, key):
            value = row["assignments"].get(key, "default")
            return value if isinstance(value, (int, float)) and not isinstance(value, bool) else show(value)

        def determines(a, b):
            """True when b's value is a function of a's over the rows (zipped keys)."""
            seen = {}
            return all(seen.setdefault(axis_value(r, a), axis_value(r, b)) == axis_value(r, b) for r in ROWS)

        # Keys that move together (a sweep's zip) share one panel.
        panels = []
        for key in VARYING:
            if not any(determines(key, k) and determines(k, key) for k, _ in panels):
                panels.append((key, [k for k in VARYING if k != key and determines(key, k) and determines(k, key)]))

        def has(r, metric):
            return metric in r["metrics"] and r["metrics"][metric]["mean"] is not None

        def unit(metric):
            return next((m["unit"] for m in TABLE["metrics"] if m["id"] == metric), "")

        # The final eval loss, and the MQAR accuracy with its guessing baseline (no recall) where
        # the data has one: where along each axis a mechanism starts to recall (Zoology's figure).
        figures = [(metric, label) for metric, label in [("final_loss", "final eval loss"), ("accuracy", "final MQAR accuracy")]
                   if any(has(r, metric) for r in ROWS)]
        for metric, label in figures:
            metric_rows = [r for r in ROWS if has(r, metric)]
            fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
            for ax, (key, aliases) in zip(axes[0], panels):
                others = [k for k in VARYING if k != key and k not in aliases]
                xs = [axis_value(r, key) for r in metric_rows]
                numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
                categories = list(dict.fromkeys(xs))
                ticks = {axis_value(r, key): " / ".join(str(axis_value(r, k)) for k in [key] + aliases) for r in metric_rows}
                colors = {}
                guess = {}
                for r in sorted(metric_rows, key=lambda r: axis_value(r, key) if numeric else 0):
                    series = ",".join(f"{short(k)}={axis_value(r, k)}" for k in others) or "all"
                    x = axis_value(r, key) if numeric else categories.index(axis_value(r, key))
                    colors[series] = seeds_and_ci(ax, x, r["metrics"][metric], color=colors.get(series),
                                                  label=None if series in colors else series)
                    if metric == "accuracy" and has(r, "guess_accuracy"):
                        guess[x] = r["metrics"]["guess_accuracy"]["mean"]
                if guess:
                    points = sorted(guess.items())
                    ax.plot([p[0] for p in points], [p[1] for p in points], color="gray", linestyle=":", marker="_",
                            label="guessing (no recall)")
                if not numeric:
                    ax.set_xticks(range(len(categories)))
                    ax.set_xticklabels([ticks[c] for c in categories], rotation=20, ha="right")
                elif min(categories) > 0 and max(categories) / min(categories) >= 16:
                    ax.set_xscale("log", base=2)
                ax.set_xlabel(" / ".join([key] + aliases))
                ax.set_ylabel(f"{label} [{unit(metric) or 'nats'}]")
                ax.legend(fontsize=8)
            plt.tight_layout()
            plt.show()
        if not figures:
            print("no completed run yet")
        """#

    static let expertLoad = #"""
        for group in groups[:MAX_GROUPS]:
            run = next((r for r in members(group) if r["moe"]), None)
            if run is None:
                continue
            steps = run["train"]["step"].values
            layers = run["moe"]
            fig, axes = plt.subplots(1, len(layers), figsize=(5.5 * len(layers), 3.2), squeeze=False)
            for l, (ax, layer) in enumerate(zip(axes[0], layers)):
                load = layer["load"].astype(float)                       # [steps, experts]
                share = load / np.maximum(load.mean(axis=1, keepdims=True), 1e-12)
                image = ax.imshow(share.T, aspect="auto", origin="lower", interpolation="nearest", cmap="viridis",
                                  extent=[steps[0], max(steps[-1], steps[0] + 1), -0.5, load.shape[1] - 0.5])
                ax.set_title(f"layer {l}")
                ax.set_xlabel("step")
                ax.set_ylabel("expert")
                fig.colorbar(image, ax=ax, label="load / mean load")
            fig.suptitle(f"{group} (seed {run['seed']})")
            plt.tight_layout()
            plt.show()
        """#

    static let maxVio = #"""
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), squeeze=False)
        for group in groups:
            frames = [r["train"] for r in members(group)]
            n = max(len(fr) for fr in frames)
            band(axes[0][0], frames, "maxvio", group, smooth=max(1, n // 50))
            band(axes[0][1], [r["eval"] for r in members(group)], "maxvio_global", group)
        axes[0][0].set_title("MaxVio_batch (training, smoothed)")
        axes[0][1].set_title("MaxVio_global (validation set)")
        for ax in axes[0]:
            ax.set_xlabel("step")
            ax.set_ylabel("MaxVio")
            if ax.lines:
                ax.legend(fontsize=8)
        plt.tight_layout()
        plt.show()
        """#

    static let biases = #"""
        for group in groups[:MAX_GROUPS]:
            run = next((r for r in members(group) if any(np.any(layer["bias"] != 0) for layer in r["moe"])), None)
            if run is None:
                continue
            steps = run["train"]["step"].values
            layers = run["moe"]
            fig, axes = plt.subplots(1, len(layers), figsize=(5.5 * len(layers), 3.2), squeeze=False)
            for l, (ax, layer) in enumerate(zip(axes[0], layers)):
                for e in range(layer["bias"].shape[1]):
                    ax.plot(steps, layer["bias"][:, e], linewidth=1, label=f"expert {e}")
                ax.set_title(f"layer {l}")
                ax.set_xlabel("step")
                ax.set_ylabel("bias")
            axes[0][-1].legend(fontsize=7, ncol=2)
            fig.suptitle(f"{group} (seed {run['seed']})")
            plt.tight_layout()
            plt.show()
        """#

    static let specialisation = #"""
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for group in groups:
            band(ax, [r["eval"] for r in members(group)], "source_mi", group)
        ax.set_title("I(source; selected expert), validation set")
        ax.set_xlabel("step")
        ax.set_ylabel("nats")
        if ax.lines:
            ax.legend(fontsize=8)
        plt.tight_layout()
        plt.show()
        for group in groups[:MAX_GROUPS]:
            run = next((r for r in members(group) if r["source_loads"] is not None), None)
            if run is None:
                continue
            s = run["source_loads"]
            fig, axes = plt.subplots(1, len(s["layers"]), figsize=(5.5 * len(s["layers"]), 0.4 * len(s["sources"]) + 1.8), squeeze=False)
            for ax, layer, counts in zip(axes[0], s["layers"], s["loads"]):
                share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
                image = ax.imshow(share, aspect="auto", cmap="viridis", vmin=0)
                ax.set_yticks(range(len(s["sources"])))
                ax.set_yticklabels(s["sources"], fontsize=7)
                ax.set_xlabel("expert")
                ax.set_title(f"layer {layer}")
                fig.colorbar(image, ax=ax, fraction=0.04)
            fig.suptitle(f"{group} (seed {run['seed']}, step {s['step']}): share of each source's selections per expert")
            plt.tight_layout()
            plt.show()
        """#

    static let kvCache = #"""
        if completed:
            has_accuracy = any("accuracy" in r["eval"] and r["eval"]["accuracy"].notna().any() for r in completed)
            fig, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(13 if has_accuracy else 7, 4.5), squeeze=False)
            against(axes[0][0], "kv_cache_per_token", "final_loss", "KV-cache elements per token", "final eval loss")
            if has_accuracy:
                against(axes[0][1], "kv_cache_per_token", "accuracy", "KV-cache elements per token", "final MQAR accuracy")
                guess = final_baseline("guess_accuracy")
                if guess is not None:
                    axes[0][1].axhline(guess, color="gray", linestyle=":", linewidth=1, label="guessing (no recall)")
                    axes[0][1].legend(fontsize=8)
            plt.tight_layout()
            plt.show()
        else:
            print("no completed run yet")
        """#

    static let tuningCurves = #"""
        TUNING = os.path.join(SWEEP_DIR, "tuning.json")
        if os.path.exists(TUNING):
            # Written by `ablate sweep` with the evaluation sweep's spec: the means it chose by.
            with open(TUNING) as f:
                tuning = json.load(f)
            tuned = tuning["tuned"]
            points = [tuple(p["point"]) for v in tuning["variants"] for p in v["points"]]
            numeric = len(tuned) == 1 and all(isinstance(p[0], (int, float)) for p in points)
            finite = [p["mean"] for v in tuning["variants"] for p in v["points"] if p["mean"] is not None]
            top = max(finite) if finite else 1.0
            # A variant's name: the table's label (the spec's table.labels) of the row trained at its chosen point.
            def variant_label(variant):
                for row in TABLE["rows"]:
                    rest = {k: v for k, v in row["assignments"].items() if k not in tuned}
                    if rest == variant["assignments"]:
                        return row["label"]
                return variant["label"]
            fig, ax = plt.subplots(figsize=(8, 4.5))
            for variant in tuning["variants"]:
                keys = [tuple(p["point"]) for p in variant["points"]]
                means = [p["mean"] for p in variant["points"]]
                xs = [k[0] for k in keys] if numeric else list(range(len(keys)))
                line = ax.plot(xs, [np.nan if m is None else m for m in means], marker="o", label=variant_label(variant))[0]
                for x, m in zip(xs, means):
                    if m is None:
                        ax.plot([x], [top], marker="x", color=line.get_color())
                chosen = tuple(variant["chosen"])
                if chosen in keys and means[keys.index(chosen)] is not None:
                    ax.plot([xs[keys.index(chosen)]], [means[keys.index(chosen)]], marker="*", markersize=16,
                            color=line.get_color())
                if not numeric:
                    ax.set_xticks(xs, [",".join(show(v) for v in k) for k in keys], rotation=30)
            if numeric and points and min(p[0] for p in points) > 0 and max(p[0] for p in points) / min(p[0] for p in points) >= 10:
                ax.set_xscale("log")
            ax.set_xlabel(", ".join(short(k) for k in tuned))
            ax.set_ylabel(f"{tuning['metric']}, mean over tuning seeds {tuning['seeds']}")
            ax.legend(fontsize=7)
            plt.tight_layout()
            plt.show()
        else:
            print(f"no {TUNING}: `ablate sweep SPEC` writes it with the evaluation sweep")
        """#

    static let parameters = #"""
        if completed:
            fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), squeeze=False)
            against(axes[0][0], "total_parameters", "final_loss", "total parameters", "final eval loss")
            against(axes[0][1], "active_parameters", "final_loss", "active parameters per token", "final eval loss")
            plt.tight_layout()
            plt.show()
        else:
            print("no completed run yet")
        """#
}

extension NotebookExport.Sections {
    public init(_ sweep: SweepData) {
        let runs = sweep.runs.filter { if case .read = $0.state { return true }; return false }
        let hasEval = runs.contains { $0.metrics["final_loss"]?.isFinite == true }
        lossCurves = !runs.isEmpty
        finalLossVsAxis = hasEval && !sweep.varyingKeys.isEmpty && sweep.groups.count > 1
        expertLoad = runs.contains(where: \.hasMoE)
        maxVio = expertLoad
        biasTrajectories = runs.contains(where: \.hasBias)
        specialisation = runs.contains { $0.metrics["source_mi"]?.isFinite == true }
        let kvSizes = Set(runs.compactMap { $0.derived["kv_cache_per_token"] })
        kvCacheVsLoss = hasEval && kvSizes.count > 1
        let totals = Set(runs.compactMap { $0.derived["total_parameters"] })
        let active = Set(runs.compactMap { $0.derived["active_parameters"] })
        parametersVsLoss = hasEval && (totals.count > 1 || active.count > 1)
        tuning = !(sweep.manifest.tuned ?? []).isEmpty
    }
}
