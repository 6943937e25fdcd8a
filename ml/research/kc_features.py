"""Point-in-time (leak-free) features for the King County AVM -- SQL-translatable spec.

Everything here translates mechanically to portable SQL (PostgreSQL + Redshift:
no kNN, no LATERAL, no RANGE frames, no arrays, no medians).  Building blocks:

  (a) row-wise arithmetic on the sale itself,
  (b) GROUP BY (group_key, sale_day) daily aggregates,
  (c) a running total of those daily aggregates per group_key ordered by day
      with ``ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING`` (= sum over all
      *strictly earlier days*; same-day sales are excluded), equi-joined back
      to the sale on (group_key, sale_day)  -- pandas: groupby.cumsum + shift(1),
  (d) LAG over the same property id ordered by sale_day,
  (e) an equi-join to the monthly Case-Shiller table on a lagged month key.

FEATURES USED BY THE FINAL MODEL (see kc_experiment.FINAL_FEATURES)
--------------------------------------------------------------------
Static attributes of the sold house (no time dependence except sale year):
    bedrooms, bathrooms, sqft_living, sqft_lot, floors, waterfront, view,
    condition, grade, sqft_above, sqft_basement, yr_built, yr_renovated, lat,
    long, sqft_living15, sqft_lot15   -- raw columns, as float
    zipcode      categorical (the model's native categorical handling)
    log_sqft     ln(sqft_living)
    age          year(sale_date) - yr_built
    reno_age     year(sale_date) - yr_renovated  if yr_renovated > 0 else NULL
    liv_ratio15  sqft_living / sqft_living15
    rot{A}       lat*cos(A deg) + long*0.67*sin(A deg), A in 15,30,45,60,75
                 (rotated coordinates; 0.67 ~ cos(47.5 deg) makes degrees of
                 longitude comparable to latitude)
plus the stage-2 drift adjustment ``recent_residual_index`` (bottom of this
file), computed on the predictions table with the same machinery as (b)+(c):
    adj(d) = [sum_{j: day_j < d} w_j clip(ln price_j - pred_j, -0.5, 0.5)]
             / [sum_{j: day_j < d} w_j]  -  center,
    w_j = exp(-(d - day_j)/tau), half-life 14 days (tau = 14/ln 2), county level,
    center = the same clipped mean over the model's training rows (a constant).
    final ln-price prediction = model(x) + adj(sale_day).

ADDITIONAL (EVALUATED, NOT IN THE FINAL MODEL) FEATURES
-------------------------------------------------------
Recency weighting ("exponentially weighted comparables").  Instead of trailing
windows (which need a dense calendar spine to look up the running total at
day d-W) every comparable aggregate is exponentially weighted, half-life HL:

    w_j(d) = exp(-(d - d_j) / tau),   tau = HL / ln 2,   only d_j < d.

Because exp(-(d-d_j)/tau) = exp(-(d-D0)/tau) * exp((d_j-D0)/tau), the weighted
sum over all earlier sales is

    EWSUM_x(g, d) = exp(-(d - D0)/tau) * RUNNING_TOTAL_{days < d}[ sum_{j in g, day} exp((d_j - D0)/tau) * x_j ]

i.e. a plain running total of *pre-weighted* daily sums, followed by one
multiplication.  D0 is a fixed constant date (2014-01-01 here; in production
choose D0 near the start of the data and keep (max_day - D0)/tau < ~600 to
stay far from float64 overflow: HL = 14 d allows ~33 years, HL = 30 d ~70
years; rebase D0 per decade otherwise).  HL = inf means the plain
(unweighted) running total.  HL in (60, 180, inf) for comps.

Per-sale quantities x (deflated by the Case-Shiller nowcast cs_now, see below,
when deflate=True -- the default):
    one = 1
    lq  = ln(price / sqft_living) - cs_now      (log price per sqft)
    lq2 = lq * lq
    ls  = ln(sqft_living)
    grd = grade
    la  = ln(price) - BETA * ln(sqft_living) - cs_now   (size-adjusted, BETA = 0.6)

Group keys (integer arithmetic, portable):
    county : constant 1
    zip    : zipcode
    gRR    : (floor(lat / R), floor(long / R)), R in degrees
             g005: R=0.005, g01: R=0.01, g02: R=0.02, g05: R=0.05
    g01s   : half-cell shifted grid (floor(lat/0.01 + 0.5), floor(long/0.01 + 0.5))
    zgb    : (zipcode, least(greatest(grade, 6), 10))

Per level L and half-life HL (NULL when EWSUM_one = 0):
    n_L_HL   = EWSUM_one                        (effective number of earlier comps)
    q_L_HL   = EWSUM_lq / EWSUM_one             (geometric-mean ppsf, in logs)
    sdq_L_HL = sqrt(greatest(EWSUM_lq2/EWSUM_one - q_L_HL^2, 0))   (not for county)
    ls_L_HL  = EWSUM_ls / EWSUM_one,  grd_L_HL = EWSUM_grd / EWSUM_one (not for county)

Shrinkage chain on la (count-based blending, coarse -> fine, K = SHRINK_K = 5):
    m_county = EWSUM_la[county] / EWSUM_one[county]
    qs_zip   = (EWSUM_la[zip]  + K * m_county) / (EWSUM_one[zip]  + K)
    qs_g02   = (EWSUM_la[g02]  + K * qs_zip)   / (EWSUM_one[g02]  + K)
    qs_g01   = (EWSUM_la[g01]  + K * qs_g02)   / (EWSUM_one[g01]  + K)
    qs_g005  = (EWSUM_la[g005] + K * qs_g01)   / (EWSUM_one[g005] + K)
    base_lp_HL = qs_g005_HL + BETA * ln(sqft_living) + cs_now   (comps baseline for ln price)

Comps-based drift index (second pass; r_j = la_j - qs_g005_inf_j of each sale,
computed point-in-time for sale j, skipped where NULL), half-lives 14/30/60:
    idx_county_HL = EWSUM_r[county] / EWSUM_ok[county]   (0 if none),  nidx_county_HL = EWSUM_ok
    idx_zip_HL, idx_g05_HL = (EWSUM_r[L] + IDX_K * idx_county_HL) / (EWSUM_ok[L] + IDX_K), IDX_K = 20
    base_now_HL = base_lp_inf + idx_county_HL

Own previous sale (LAG over id ORDER BY sale_day; (id, sale_day) is unique so
the previous sale is strictly earlier):
    prev_days    = sale_day - LAG(sale_day)
    prev_adj_gap = LAG(ln price) - LAG(base_lp_180)
    prev_lp_adj  = prev_adj_gap + base_lp_180    (previous price moved with the local baseline)

Case-Shiller SEXRNSA (month key m = 12*year + month - 1).  Month M is published
on the last Tuesday of M+2, so on any day of sale month M only months <= M-3
are certainly public:
    cs_chg3 = lnCS(M-3) - lnCS(M-6)
    cs_seas = lnCS(M-12) - lnCS(M-15)             (same season one year earlier)
    cs_now  = lnCS(M-3) + 0.63*cs_seas + 0.26*cs_chg3   (nowcast of lnCS(M);
              coefficients = OLS on CS history 2000-01..2014-10, i.e. values
              public before 2015-02-01)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

D0 = pd.Timestamp("2014-01-01")
SHRINK_K = 5.0
SHRINK_CHAIN = ("zip", "g02", "g01", "g005")
CS_A_SEAS, CS_A_MOM = 0.63, 0.26   # OLS on CS history 2000-01..2014-10 (see FINDINGS)
BETA = 0.6   # size elasticity used for the size-adjusted log price la = lp - BETA*ln(sqft)
CASE_SHILLER_PATH = "/work/shared/data/market_indices/caseshiller_SEXRNSA.csv"
DEMOGRAPHICS_PATH = "/work/shared/data/king_county/kc_zipcode_demographics.csv"

# level name -> function(df) returning the group-key columns
GRIDS = {"g005": (0.005, False), "g01": (0.01, False), "g01s": (0.01, True),
         "g02": (0.02, False), "g05": (0.05, False)}
HALF_LIVES = (60.0, 180.0, np.inf)
IDX_HLS = (14.0, 30.0, 60.0)
ROT_ANGLES = (15, 30, 45, 60, 75)
IDX_K = 20.0

STATIC = ["bedrooms", "bathrooms", "sqft_living", "sqft_lot", "floors",
          "waterfront", "view", "condition", "grade", "sqft_above",
          "sqft_basement", "yr_built", "yr_renovated", "lat", "long",
          "sqft_living15", "sqft_lot15"]


# --------------------------------------------------------------------------
# primitive: exponentially weighted sums over strictly earlier days per group
# --------------------------------------------------------------------------
def _ew_prior_sums(s: pd.DataFrame, keys: list[str], xcols: list[str],
                   hl: float) -> pd.DataFrame:
    """EWSUM_x(g, d) for every sale row of ``s`` (index-aligned).

    SQL:  daily  = SELECT keys, sale_day, SUM(exp((day-D0)/tau) * x) AS sx ... GROUP BY keys, sale_day
          cum    = SELECT *, SUM(sx) OVER (PARTITION BY keys ORDER BY sale_day
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
          sale JOIN cum USING (keys, sale_day);  EWSUM = exp(-(day-D0)/tau) * coalesce(cum.sx, 0)
    """
    if np.isinf(hl):
        w = np.ones(len(s))
    else:
        tau = hl / np.log(2.0)
        w = np.exp(s["t"].to_numpy() / tau)
    tmp = s[keys + ["t"]].copy()
    for c in xcols:
        tmp[c] = s[c].to_numpy() * w
    daily = tmp.groupby(keys + ["t"], sort=True, observed=True)[xcols].sum().reset_index()
    # running total over strictly earlier days: cumsum, then shift one row within the group
    cum = daily.groupby(keys, sort=False, observed=True)[xcols].cumsum()
    cum[keys] = daily[keys]
    cum = cum.groupby(keys, sort=False, observed=True)[xcols].shift(1).fillna(0.0)
    cum = pd.concat([daily[keys + ["t"]], cum], axis=1)
    out = s[keys + ["t"]].merge(cum, on=keys + ["t"], how="left")
    out.index = s.index
    if not np.isinf(hl):
        back = np.exp(-s["t"].to_numpy() / tau)
        for c in xcols:
            out[c] = out[c].to_numpy() * back
    return out[xcols]


def _load_case_shiller(path: str = CASE_SHILLER_PATH) -> pd.Series:
    """ln(SEXRNSA) indexed by month key m = 12*year + (month-1)."""
    cs = pd.read_csv(path, parse_dates=["DATE"])
    m = (cs["DATE"].dt.year * 12 + cs["DATE"].dt.month - 1).to_numpy()
    return pd.Series(np.log(cs["SEXRNSA"].to_numpy()), index=m)


def cs_nowcast(m: np.ndarray, lcs: pd.Series, a_seas: float = CS_A_SEAS,
               a_mom: float = CS_A_MOM) -> pd.DataFrame:
    """Publication-lag-safe Case-Shiller features for sale month key ``m``.

    CS for month M is published on the last Tuesday of M+2, so on any day of
    month M only months <= M-3 are certainly public.
      cs_chg3 = lnCS(M-3) - lnCS(M-6)
      cs_seas = lnCS(M-12) - lnCS(M-15)
      cs_now  = lnCS(M-3) + a_seas*cs_seas + a_mom*cs_chg3     (nowcast of lnCS(M))
    """
    def g(k):
        return lcs.reindex(m - k).to_numpy()
    chg3 = g(3) - g(6)
    seas = g(12) - g(15)
    return pd.DataFrame({"cs_chg3": chg3, "cs_seas": seas,
                         "cs_now": g(3) + a_seas * seas + a_mom * chg3})


def build_features(df: pd.DataFrame, hls=HALF_LIVES, shrink_k: float = SHRINK_K,
                   beta: float = BETA, deflate: bool = True,
                   case_shiller_path: str | None = CASE_SHILLER_PATH,
                   demographics_path: str | None = None,
                   levels: tuple | None = None, idx_hls=IDX_HLS,
                   idx_k: float = IDX_K) -> pd.DataFrame:
    """One row per sale (same row order as ``df``) with all AVM features.

    See FEATURE SPEC in the module docstring.
    """
    date = pd.to_datetime(df["date"].astype(str).str[:8], format="%Y%m%d")
    n_rows = len(df)
    s = pd.DataFrame({"t": (date - D0).dt.days.to_numpy().astype(np.int64)})
    ids = df["id"].astype(str).to_numpy()
    price = df["price"].astype(float).to_numpy()
    sqft = df["sqft_living"].astype(float).to_numpy()
    mkey = (date.dt.year * 12 + date.dt.month - 1).to_numpy()

    feats: dict = {}
    # ---- static attributes of the sold property
    for c in STATIC:
        feats[c] = df[c].astype(float).to_numpy()
    feats["zipcode"] = pd.Categorical(df["zipcode"].astype(str))
    year = date.dt.year.to_numpy()
    feats["log_sqft"] = np.log(sqft)
    feats["age"] = (year - df["yr_built"].to_numpy()).astype(float)
    yr_ren = df["yr_renovated"].to_numpy().astype(float)
    feats["reno_age"] = np.where(yr_ren > 0, year - yr_ren, np.nan)
    feats["liv_ratio15"] = sqft / df["sqft_living15"].to_numpy()
    # rotated coordinates (lets axis-aligned trees cut diagonal boundaries); 0.67 ~ cos(47.5 deg)
    for a in ROT_ANGLES:
        th = np.deg2rad(a)
        feats[f"rot{a}"] = df["lat"].to_numpy() * np.cos(th) + df["long"].to_numpy() * 0.67 * np.sin(th)

    # ---- market index (Case-Shiller, publication-lag safe)
    if case_shiller_path:
        csf = cs_nowcast(mkey, _load_case_shiller(case_shiller_path))
        feats["cs_chg3"] = csf["cs_chg3"].to_numpy()
        feats["cs_seas"] = csf["cs_seas"].to_numpy()
        cs_now = csf["cs_now"].to_numpy()
    else:
        cs_now = np.zeros(n_rows)
    defl = cs_now if deflate else np.zeros(n_rows)
    feats["cs_now"] = cs_now

    # ---- per-sale quantities aggregated over comparables (deflated to "index = 0" money)
    lp = np.log(price)
    s["one"] = 1.0
    s["lq"] = lp - np.log(sqft) - defl           # deflated ln price per sqft
    s["lq2"] = s["lq"] ** 2
    s["ls"] = np.log(sqft)
    s["grd"] = df["grade"].astype(float).to_numpy()
    s["la"] = lp - beta * s["ls"] - defl         # deflated size-adjusted ln price

    # ---- group keys
    s["county"] = 1
    s["zip"] = df["zipcode"].astype(str).to_numpy()
    lat = df["lat"].to_numpy()
    lon = df["long"].to_numpy()
    level_keys = {"county": ["county"], "zip": ["zip"]}
    for name, (r, shifted) in GRIDS.items():
        off = 0.5 if shifted else 0.0
        s[name + "_a"] = np.floor(lat / r + off).astype(np.int64)
        s[name + "_b"] = np.floor(lon / r + off).astype(np.int64)
        level_keys[name] = [name + "_a", name + "_b"]
    s["gband"] = np.clip(df["grade"].to_numpy(), 6, 10)
    level_keys["zgb"] = ["zip", "gband"]
    if levels is not None:
        level_keys = {k: v for k, v in level_keys.items() if k in levels or k in SHRINK_CHAIN or k == "county"}

    # ---- comparables
    xcols = ["one", "lq", "lq2", "ls", "grd", "la"]
    for hl in hls:
        tag = "inf" if np.isinf(hl) else str(int(hl))
        sums = {}
        for lvl, keys in level_keys.items():
            e = _ew_prior_sums(s, keys, xcols, hl)
            sums[lvl] = e
            if levels is not None and lvl not in levels:
                continue
            n = e["one"].to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                q = np.where(n > 0, e["lq"].to_numpy() / n, np.nan)
                feats[f"n_{lvl}_{tag}"] = n
                feats[f"q_{lvl}_{tag}"] = q
                if lvl != "county":
                    q2 = np.where(n > 0, e["lq2"].to_numpy() / n, np.nan)
                    feats[f"sdq_{lvl}_{tag}"] = np.sqrt(np.maximum(q2 - q * q, 0))
                    feats[f"ls_{lvl}_{tag}"] = np.where(n > 0, e["ls"].to_numpy() / n, np.nan)
                    feats[f"grd_{lvl}_{tag}"] = np.where(n > 0, e["grd"].to_numpy() / n, np.nan)
        # shrinkage chain county -> zip -> g02 -> g01 -> g005 on la
        ec = sums["county"]
        with np.errstate(invalid="ignore", divide="ignore"):
            parent = np.where(ec["one"] > 0, ec["la"] / ec["one"], np.nan)
        for lvl in SHRINK_CHAIN:
            e = sums[lvl]
            parent = (e["la"].to_numpy() + shrink_k * parent) / (e["one"].to_numpy() + shrink_k)
            feats[f"qs_{lvl}_{tag}"] = parent
        feats[f"base_lp_{tag}"] = parent + beta * s["ls"].to_numpy() + defl

    # ---- market drift index from prior sales (second pass, location-mix adjusted)
    if idx_hls and "qs_g005_inf" in feats:
        r = s["la"].to_numpy() - np.asarray(feats["qs_g005_inf"])
        ok = np.isfinite(r)
        s["r"] = np.where(ok, r, 0.0)
        s["rok"] = ok.astype(float)
        for hl in idx_hls:
            tag = "inf" if np.isinf(hl) else str(int(hl))
            ec = _ew_prior_sums(s, ["county"], ["rok", "r"], hl)
            with np.errstate(invalid="ignore", divide="ignore"):
                ic = np.where(ec["rok"] > 0, ec["r"] / ec["rok"], 0.0)
            feats[f"idx_county_{tag}"] = ic
            feats[f"nidx_county_{tag}"] = ec["rok"].to_numpy()
            for lvl in ("zip", "g05"):
                ez = _ew_prior_sums(s, level_keys[lvl], ["rok", "r"], hl)
                feats[f"idx_{lvl}_{tag}"] = (ez["r"].to_numpy() + idx_k * ic) / (ez["rok"].to_numpy() + idx_k)
            feats[f"base_now_{tag}"] = np.asarray(feats["base_lp_inf"]) + ic

    # ---- own previous sale (LAG over id ORDER BY sale_day; (id, day) is unique)
    t_arr = s["t"].to_numpy()
    pos = np.lexsort((t_arr, ids))
    same = ids[pos][1:] == ids[pos][:-1]
    bcol = "base_lp_180" if "base_lp_180" in feats else [c for c in feats if c.startswith("base_lp_")][0]
    prev = {}
    for name, arr in (("lp", lp), ("t", t_arr.astype(float)),
                      ("base", np.asarray(feats[bcol], dtype=float))):
        lagged = np.full(n_rows, np.nan)
        lagged[1:] = np.where(same, arr[pos][:-1], np.nan)
        back = np.empty(n_rows)
        back[pos] = lagged
        prev[name] = back
    feats["prev_days"] = t_arr - prev["t"]
    feats["prev_adj_gap"] = prev["lp"] - prev["base"]
    feats["prev_lp_adj"] = feats["prev_adj_gap"] + np.asarray(feats[bcol])

    if demographics_path:
        dem = pd.read_csv(demographics_path, dtype={"zipcode": str}).set_index("zipcode")
        cols = ["medn_hshld_incm_amt", "hous_val_amt", "per_bchlr", "per_prfsnl", "ppltn_qty"]
        d = dem.reindex(df["zipcode"].astype(str).to_numpy())[cols]
        for c in cols:
            feats["dem_" + c] = d[c].to_numpy()
    return pd.DataFrame(feats, index=df.index)


# --------------------------------------------------------------------------
# stage 2: recent-sales residual index (market drift), computed on the
# predictions table.  Same daily-aggregate + running-total machinery.
# --------------------------------------------------------------------------
RESID_HL = 14.0
RESID_CLIP = 0.5


def recent_residual_index(df: pd.DataFrame, resid_log: np.ndarray, known: np.ndarray,
                          hl: float = RESID_HL, clip: float = RESID_CLIP,
                          center: float = 0.0) -> np.ndarray:
    """Drift adjustment adj(d) for every sale (row-aligned with ``df``).

    resid_log[j] = ln(price_j) - model_pred_log_j for every sale j whose price
    is known (``known``); rows with known=False contribute nothing.

      c_j     = least(greatest(resid_log_j, -clip), clip)
      adj(d)  = EWSUM_c(county, d) / EWSUM_one(county, d) - center
    EWSUM over sales with sale_day < d only, half-life ``hl`` days (module
    docstring); ``center`` = mean of c_j over the model's training rows
    (a constant stored with the model).  0 when there is no earlier sale.
    SQL: the predictions table (id, sale_day, pred_log, price) -> daily
    county aggregates of exp((day-D0)/tau)*c and exp((day-D0)/tau) ->
    running total ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING -> join.
    """
    date = pd.to_datetime(df["date"].astype(str).str[:8], format="%Y%m%d")
    s = pd.DataFrame({"t": (date - D0).dt.days.to_numpy().astype(np.int64), "county": 1})
    c = np.clip(np.asarray(resid_log, dtype=float), -clip, clip)
    s["one"] = np.where(known, 1.0, 0.0)
    s["c"] = np.where(known, c, 0.0)
    e = _ew_prior_sums(s, ["county"], ["one", "c"], hl)
    n = e["one"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, e["c"].to_numpy() / n - center, 0.0)
