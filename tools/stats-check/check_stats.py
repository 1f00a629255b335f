"""Checks Ablate's statistics (Analysis) against scipy and statsmodels.

Usage: python check_stats.py CASES.json

CASES.json is written by Tests/AnalysisTests/ScipyCheckTests.swift: each case has the inputs and
what Ablate computed. This script recomputes every value independently and prints one line per
mismatch; the exit code is 1 when any value differs by more than the case's tolerance.
"""
import json
import math
import sys

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired


def close(got, want, tol):
    if got is None or want is None or (isinstance(want, float) and math.isnan(want)):
        return (got is None or (isinstance(got, float) and math.isnan(got))) and (
            want is None or (isinstance(want, float) and math.isnan(want)))
    return abs(got - want) <= tol * max(1.0, abs(want))


def num(x):
    return float("nan") if x is None else float(x)


def expected(case):
    kind = case["kind"]
    i = case["input"]
    if kind == "t_quantile":
        return {"q": stats.t.ppf(i["p"], i["df"])}
    if kind == "t_cdf":
        return {"cdf": stats.t.cdf(i["t"], i["df"])}
    if kind == "mean_ci":
        x = np.asarray(i["values"], float)
        n = len(x)
        if n < 2:
            return {"low": None, "high": None}
        m, se = x.mean(), x.std(ddof=1) / math.sqrt(n)
        if se == 0:
            return {"low": m, "high": m}
        lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=se)
        return {"low": lo, "high": hi}
    if kind == "paired":
        a, b = np.asarray(i["a"], float), np.asarray(i["b"], float)
        d = a - b
        n = len(d)
        out = {"estimate": d.mean()}
        if n < 2:
            out.update({"p": None, "low": None, "high": None})
            return out
        sd = d.std(ddof=1)
        if sd == 0:
            out.update({"p": 1.0 if d.mean() == 0 else 0.0, "low": d.mean(), "high": d.mean()})
        else:
            out["p"] = stats.ttest_rel(a, b).pvalue
            lo, hi = stats.t.interval(0.95, n - 1, loc=d.mean(), scale=sd / math.sqrt(n))
            out.update({"low": lo, "high": hi})
        if "margin" in i:
            m = i["margin"]
            if sd == 0:
                out["tost_p"] = 0.0 if abs(d.mean()) < m else 1.0
            else:
                out["tost_p"] = ttost_paired(a, b, -m, m)[0]
        return out
    if kind == "correction":
        p = np.asarray([num(x) for x in i["p"]])
        finite = ~np.isnan(p)
        out = np.full(len(p), np.nan)
        if finite.any():
            method = {"holm": "holm", "bh": "fdr_bh"}[i["method"]]
            out[finite] = multipletests(p[finite], method=method)[1]
        return {"adjusted": [None if math.isnan(x) else x for x in out]}
    if kind == "clopper_pearson":
        lo, hi = proportion_confint(i["k"], i["n"], alpha=0.05, method="beta")
        return {"low": lo, "high": hi}
    if kind == "trend":
        df = pd.DataFrame({"seed": i["seeds"], "x": i["x"], "y": i["y"]})
        fit = smf.ols("y ~ x + C(seed)", data=df).fit()
        lo, hi = fit.conf_int(0.05).loc["x"]
        return {"slope": fit.params["x"], "se": fit.bse["x"], "p": fit.pvalues["x"], "df": fit.df_resid,
                "low": lo, "high": hi}
    if kind == "nct_cdf":
        return {"cdf": stats.nct.cdf(i["t"], i["df"], i["nc"])}
    if kind == "power_paired":
        return {"power": TTestPower().power(effect_size=i["d"], nobs=i["n"], alpha=i["alpha"], alternative="two-sided")}
    if kind == "seeds_paired":
        n = TTestPower().solve_power(effect_size=i["d"], alpha=i["alpha"], power=i["power"], alternative="two-sided")
        return {"n": math.ceil(n - 1e-9)}
    if kind == "power_equivalence":
        df = i["n"] - 1
        crit = stats.t.ppf(1 - i["alpha"], df)
        nc = i["margin"] * math.sqrt(i["n"]) / i["sigma"]
        return {"power": max(0.0, 1 - 2 * stats.nct.cdf(crit, df, nc))}
    if kind == "mutual_information":
        # I(X; Y) = H(X) + H(Y) − H(X, Y), each entropy by scipy (nats).
        c = np.asarray(i["counts"], dtype=float).reshape(i["rows"], i["columns"])
        if c.sum() == 0:
            return {"mi": 0.0}
        return {"mi": max(0.0, stats.entropy(c.sum(1)) + stats.entropy(c.sum(0)) - stats.entropy(c.ravel()))}
    if kind == "token_ratio":
        # First evaluation at or below b's final loss; linear in tokens from the one before it.
        tokens = np.asarray(i["tokens"], float)
        ratios = []
        for loss, target in zip(i["a_loss"], i["b_final"]):
            loss = np.asarray(loss, float)
            k = int(np.argmax(loss <= target))
            assert loss[k] <= target and k > 0
            # np.interp needs increasing x: interpolate tokens against the falling loss reversed.
            t = np.interp(target, loss[k - 1:k + 1][::-1], tokens[k - 1:k + 1][::-1])
            ratios.append(t / i["b_tokens"])
        r = np.asarray(ratios)
        out = {"ratios": list(r), "estimate": r.mean()}
        if len(r) < 2:
            out.update({"low": None, "high": None, "p": None})
        elif r.std(ddof=1) == 0:
            # Zero spread: the interval is the point and p is 0 (1 when the ratio is exactly 1).
            out.update({"low": r.mean(), "high": r.mean(), "p": 1.0 if r.mean() == 1 else 0.0})
        else:
            lo, hi = stats.t.interval(0.95, len(r) - 1, loc=r.mean(), scale=stats.sem(r))
            out.update({"low": lo, "high": hi, "p": stats.ttest_1samp(r, 1.0).pvalue})
        return out
    if kind == "beta_quantile":
        return {"q": stats.beta.ppf(i["p"], i["a"], i["b"])}
    raise ValueError(f"unknown case kind {kind}")


def main(path):
    cases = json.load(open(path))["cases"]
    failures = 0
    for case in cases:
        want = expected(case)
        got = case["output"]
        tol = case.get("tolerance", 1e-9)
        for key, value in want.items():
            g = got.get(key)
            if isinstance(value, list):
                ok = len(value) == len(g) and all(close(None if x is None else x, None if y is None else y, tol)
                                                  for x, y in zip(g, value))
            else:
                ok = close(None if g is None else float(g), None if value is None else float(value), tol)
            if not ok:
                failures += 1
                print(f"MISMATCH {case['name']}: {key} = {g} (Ablate), {value} (scipy/statsmodels)")
    print(f"{len(cases)} cases checked, {failures} mismatch(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
