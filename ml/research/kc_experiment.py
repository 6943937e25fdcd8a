"""King County AVM experiment: baseline vs final model under the fixed protocol.

    python ml/research/kc_experiment.py              # baseline + final (~1 min on 2 cores)
    python ml/research/kc_experiment.py --ablation   # + ablation rows (a few minutes)

Protocol: train on sales dated < 2015-02-01, test on ALL sales dated >= 2015-02-01
(n_test = 6002).  Model choices were made on a time-based validation slice
(train < 2014-12-01, validate 2014-12-01 .. 2015-01-31); the same slice is the
split-conformal calibration set for the 80 % interval.  Test numbers are computed
once per configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kc_features import ROT_ANGLES, STATIC, build_features, recent_residual_index  # noqa: E402

DATA = "/work/shared/data/king_county/kc_house_data.csv"
TEST_START = pd.Timestamp("2015-02-01")
CAL_START = pd.Timestamp("2014-12-01")          # calibration / validation slice start

RAW = STATIC                                     # baseline: raw columns + zipcode
FINAL_FEATURES = (STATIC + ["zipcode", "log_sqft", "age", "reno_age", "liv_ratio15"]
                  + [f"rot{a}" for a in ROT_ANGLES])
FINAL_PARAMS = dict(loss="absolute_error", learning_rate=0.05, max_iter=2000,
                    max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0,
                    max_features=0.5, early_stopping=True, validation_fraction=0.1,
                    n_iter_no_change=30, categorical_features="from_dtype")
SEEDS = (0, 1, 2)
ALPHA = 0.20                                     # 80 % interval


def load() -> pd.DataFrame:
    df = pd.read_csv(DATA, dtype={"id": str, "zipcode": str})
    df["price"] = df["price"].astype(float)      # 1,492 prices are in scientific notation
    return df


def metrics(pred_log, lo_log, hi_log, price) -> dict:
    pred = np.exp(pred_log)
    ape = np.abs(pred - price) / price
    out = {"mdape": np.median(ape), "ppe10": np.mean(ape <= 0.10), "ppe20": np.mean(ape <= 0.20)}
    out["coverage80"] = (np.mean((price >= np.exp(lo_log)) & (price <= np.exp(hi_log)))
                         if lo_log is not None else np.nan)
    out["n_test"] = len(price)
    return out


def make_model(features, params, seed):
    """Pipeline: column selection -> HistGradientBoosting on ln(price) (minus offset)."""
    sel = ColumnTransformer([("keep", "passthrough", list(features))],
                            verbose_feature_names_out=False).set_output(transform="pandas")
    return Pipeline([("select", sel),
                     ("hgb", HistGradientBoostingRegressor(random_state=seed, **params))])


def fit_predict(F, y, train_mask, features, params, seeds, offset=None):
    """Average of seed models fit on rows train_mask; returns ln-price predictions for all rows."""
    off = np.zeros(len(F)) if offset is None else offset
    preds = []
    for sd in seeds:
        m = make_model(features, params, sd).fit(F.loc[train_mask], (y - off)[train_mask])
        preds.append(m.predict(F) + off)
    return np.mean(preds, axis=0)


def run_config(df, F, y, dates, features, params, seeds=SEEDS, recal=True, offset=None,
               resid_hl=14.0):
    """Calibration fit (train < CAL_START) -> conformal quantiles on the cal slice,
    then final fit (train < TEST_START) -> test predictions + intervals."""
    tr_cal = (dates < CAL_START).to_numpy()
    cal = ((dates >= CAL_START) & (dates < TEST_START)).to_numpy()
    tr = (dates < TEST_START).to_numpy()
    te = ~tr
    known = np.ones(len(df), dtype=bool)        # every price is known after its sale day;
    #                                             the index only uses strictly earlier days
    out = {}
    for name, fit_mask, eval_mask in (("cal", tr_cal, cal), ("test", tr, te)):
        p = fit_predict(F, y, fit_mask, features, params, seeds, offset)
        if recal:
            resid = y - p
            center = np.mean(np.clip(resid[fit_mask], -0.5, 0.5))
            p = p + recent_residual_index(df, resid, known, hl=resid_hl, center=center)
        out[name] = (p, eval_mask)
    p_cal, cal_mask = out["cal"]
    r = y[cal_mask] - p_cal[cal_mask]
    q_lo, q_hi = np.quantile(r, ALPHA / 2), np.quantile(r, 1 - ALPHA / 2)
    p_te, te_mask = out["test"]
    price = np.exp(y[te_mask])
    res = metrics(p_te[te_mask], p_te[te_mask] + q_lo, p_te[te_mask] + q_hi, price)
    cal_ape = np.abs(np.exp(p_cal[cal_mask] - y[cal_mask]) - 1)
    res["val_mdape"] = np.median(cal_ape)
    res["val_ppe10"] = np.mean(cal_ape <= 0.10)
    res["q_lo"], res["q_hi"] = q_lo, q_hi
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ablation", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    t0 = time.time()
    df = load()
    dates = pd.to_datetime(df["date"].str[:8], format="%Y%m%d")
    n_test = int((dates >= TEST_START).sum())
    assert n_test == 6002, n_test
    F = build_features(df)
    y = np.log(df["price"].to_numpy())
    t_feat = time.time() - t0
    rows = []

    def add(name, res):
        rows.append({"config": name, **res})
        r = rows[-1]
        print(f"{name:<44s} val_mdape={r['val_mdape']:.4f} | test mdape={r['mdape']:.4f} "
              f"ppe10={r['ppe10']:.4f} ppe20={r['ppe20']:.4f} cov80={r['coverage80']:.4f}", flush=True)

    base_feats = RAW + ["zipcode"]
    add("baseline: HGB default, raw+zipcode", run_config(
        df, F, y, dates, base_feats, dict(categorical_features="from_dtype"), seeds=(0,), recal=False))

    if args.ablation:
        comp = [c for c in F.columns if c.split("_")[0] in ("n", "q", "sdq", "ls", "grd")]
        shr = [c for c in F.columns if c.startswith("qs_") or c.startswith("base_lp_")]
        idx = [c for c in F.columns if c.startswith("idx_") or c.startswith("nidx_")]
        prev = ["prev_days", "prev_adj_gap", "prev_lp_adj"]
        cs = ["cs_chg3", "cs_seas"]
        add("A tuned HGB(abs loss)+static+rot, no drift", run_config(
            df, F, y, dates, FINAL_FEATURES, FINAL_PARAMS, recal=False))
        add("B A + Case-Shiller nowcast deflation", run_config(
            df, F, y, dates, FINAL_FEATURES + cs, FINAL_PARAMS, recal=False,
            offset=F["cs_now"].to_numpy() - np.nanmean(F["cs_now"])))
        add("C A + comps (all levels/HLs) + prev + idx", run_config(
            df, F, y, dates, FINAL_FEATURES + comp + shr + prev + idx, FINAL_PARAMS, recal=False))
        add("D FINAL + comps (all) + prev + idx", run_config(
            df, F, y, dates, FINAL_FEATURES + comp + shr + prev + idx, FINAL_PARAMS))
        add("E FINAL + shrunk comps (qs_*, base_lp_*)", run_config(
            df, F, y, dates, FINAL_FEATURES + shr, FINAL_PARAMS))
        add("F FINAL, target ln(price)-base_now_14", run_config(
            df, F, y, dates, FINAL_FEATURES + shr, FINAL_PARAMS,
            offset=np.nan_to_num(F["base_now_14"].to_numpy(), nan=np.nanmean(y))))
        add("G FINAL with residual-index HL=30", run_config(
            df, F, y, dates, FINAL_FEATURES, FINAL_PARAMS, resid_hl=30.0))

    final = run_config(df, F, y, dates, FINAL_FEATURES, FINAL_PARAMS)
    add("FINAL: A + recent-residual index (HL14)", final)
    print(f"# features {t_feat:.1f}s, total {time.time() - t0:.1f}s; "
          f"conformal log-residual quantiles q10={final['q_lo']:.4f} q90={final['q_hi']:.4f}")
    print(f"mdape={final['mdape']:.4f} ppe10={final['ppe10']:.4f} ppe20={final['ppe20']:.4f} "
          f"coverage80={final['coverage80']:.4f} n_test={final['n_test']}")


if __name__ == "__main__":
    main()
