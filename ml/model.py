"""The automated valuation model (AVM).

Stage 1 — cross-section: an average of HistGradientBoosting models (one per seed) on ln(price)
with absolute-error loss (the conditional median of ln price is what MdAPE rewards) and, for the
last ``squared_error_share`` of them (5 seeds: 2), squared-error loss on ln price clipped to within
``squared_error_clip`` (0.3) of the others' in-sample fit: a Huber-like mean beside the medians
(King County, averaged over three seed sets: PPE10 0.5863 → 0.5923 on the earlier validation split,
0.5971 → 0.6009 on the test window, MdAPE 0.0793 → 0.0784 and 0.0773 → 0.0771), native
categorical handling (region, neighbourhood, property type) and a few derived features (log
size, rotated coordinates, size relative to the neighbours). ``neighbor_features`` (rows with
coordinates) adds the neighbour price level: over the nearest sales with a known price dated
strictly before the valuation day (training sales, then sales known since: ``known``), the
distance-weighted mean log price per sqft of the 10 and 30 nearest, the mean log price and a
recency-weighted log price per sqft of the 10 nearest, and their mean distance
(:func:`neighbor_columns`). Leak-free like stage 2: a sale never sees its own price or a later one.

Stage 2 — market drift: trees cannot extrapolate a moving market, so the prediction for a sale
on day d adds the exponentially weighted (half-life ``drift_half_life_days``, 7 days) mean log residual of the model on
every sale with a known price dated strictly before d, per region shrunk toward all regions,
minus the mean in-sample residual (``center``). Only earlier days are used: leak-free.

Stage 3 — comparable sales (``comps_neighbors`` > 0, rows with coordinates): the estimate adds a
distance-weighted mean, shrunk toward 0 (``comps_shrink`` sales' worth), of the residuals of the
``comps_neighbors`` nearest sales with a known price dated strictly before the valuation day, net
of the drift index of their day. Training sales contribute out-of-fold residuals (``comps_folds``
folds, first seed), so the trees' in-sample fit does not hide them; sales known later (earlier test
sales, ``known``) their residuals. A property's own earlier sale is among its neighbours: the
repeat-sales signal. Leak-free like stage 2.

``per_sqft``: the boosters learn ln(price / living area) and the log area is added back.
``mixed_target`` (default, rows with a living area): the seeds alternate between the two targets
(5 seeds: 3 on ln price, 2 on ln price per sqft) and stage 1 averages them, a blend of two
differently biased models at the cost of one ensemble (King County, 5 seeds: MdAPE 0.0776 → 0.0767
on the test window, 0.0811 → 0.0799 on the earlier validation split). ``monotonic`` (opt-in):
non-decreasing in grade, view, waterfront, condition, the neighbour price level and (ln price
boosters) the living area (King County, three seed sets: MdAPE 0.0773 → 0.0767 on the test window
but 0.0793 → 0.0812 on the validation split, PPE10 lower on both: not the default).

Intervals — split-conformal on the log scale: quantiles of the out-of-sample log residuals on a
time-based calibration slice (set by the training procedure, ``ml.train``). ``calibrate_shift``:
the median of those residuals (the online predictor's bias, e.g. the mean-vs-median gap of the
drift stage) is added to every prediction and the quantiles are taken around it.

``predict`` returns prices with their interval (``estimate``, ``lower``, ``upper``: what
``mlflow models serve`` answers), with the drift correction as of the day after the last known sale; ``predict_at`` takes explicit valuation dates and optional
newly known sales (online evaluation).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor

MAX_CATEGORIES = 250  # HistGradientBoosting bins categories into at most 255 bins
ROTATIONS = {15: (0.965926, 0.173409), 30: (0.866025, 0.335), 45: (0.707107, 0.473762),
             60: (0.5, 0.580237), 75: (0.258819, 0.64717)}  # (cos A, 0.67 sin A)
DRIFT_SHRINK = 5.0  # a region's drift index is blended with all regions' as if K more sales


class AVMModel(RegressorMixin, BaseEstimator):
    def __init__(
        self,
        numeric_features: tuple[str, ...] = (),
        categorical_features: tuple[str, ...] = (),
        group_feature: str | None = "region_id",
        seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
        learning_rate: float = 0.03,
        max_iter: int = 2000,
        max_leaf_nodes: int = 63,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        max_features: float = 0.5,
        n_iter_no_change: int = 30,
        drift_half_life_days: float = 7.0,
        drift_clip: float = 0.5,
        use_time: bool = True,
        comps_neighbors: int = 0,
        comps_scale_km: float = 1.0,
        comps_shrink: float = 2.0,
        comps_folds: int = 5,
        per_sqft: bool = False,
        mixed_target: bool = True,
        monotonic: bool = False,
        calibrate_shift: bool = True,
        neighbor_features: bool = True,
        squared_error_share: float = 0.4,
        squared_error_clip: float = 0.3,
    ):
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.group_feature = group_feature
        self.seeds = seeds
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.n_iter_no_change = n_iter_no_change
        self.drift_half_life_days = drift_half_life_days
        self.drift_clip = drift_clip
        self.use_time = use_time
        self.comps_neighbors = comps_neighbors
        self.comps_scale_km = comps_scale_km
        self.comps_shrink = comps_shrink
        self.comps_folds = comps_folds
        self.per_sqft = per_sqft
        self.mixed_target = mixed_target
        self.monotonic = monotonic
        self.calibrate_shift = calibrate_shift
        self.neighbor_features = neighbor_features
        self.squared_error_share = squared_error_share
        self.squared_error_clip = squared_error_clip

    # ------------------------------------------------------------------ design matrix
    def _design(self, frame: pd.DataFrame, days: np.ndarray | None = None,
                neighbors: dict | None = None) -> pd.DataFrame:
        data = {}
        if self.use_time:
            # market level inside the training window; beyond it trees extrapolate flat and the
            # drift stage takes over
            data["days_since_2000"] = np.asarray(days, dtype="float64") if days is not None else np.nan
        numeric = {col: pd.to_numeric(frame[col], errors="coerce").astype("float64") for col in self.numeric_features}
        data.update(numeric)
        if "living_sqft" in numeric:
            data["log_living_sqft"] = np.log(numeric["living_sqft"].where(numeric["living_sqft"] > 0))
            if "nearby_living_sqft" in numeric:
                data["living_vs_neighbors"] = numeric["living_sqft"] / numeric["nearby_living_sqft"].where(
                    numeric["nearby_living_sqft"] > 0)
        if "latitude" in numeric and "longitude" in numeric:
            for angle, (cos_a, sin_a) in ROTATIONS.items():
                data[f"rot{angle}"] = numeric["latitude"] * cos_a + numeric["longitude"] * sin_a
        if self._uses_neighbors():
            history = self.neighbors_ if neighbors is None else neighbors
            query_days = (np.asarray(days, dtype=np.int64) if days is not None
                          else np.full(len(frame), np.iinfo(np.int64).max))
            columns = neighbor_columns(numeric["latitude"].to_numpy(), numeric["longitude"].to_numpy(),
                                       query_days, history)
            if "living_sqft" not in numeric:  # no area: no price per sqft (an all-NaN column cannot be binned)
                columns = {name: values for name, values in columns.items() if "ppsf" not in name}
            data.update(columns)
        for col in self.categorical_features:
            data[col] = pd.Categorical(frame[col].astype("string"), categories=self.categories_[col])
        return pd.DataFrame(data, index=frame.index)

    # ------------------------------------------------------------------ neighbour price level
    def _uses_neighbors(self) -> bool:
        wanted = bool(getattr(self, "neighbor_features", False))
        return wanted and {"latitude", "longitude"} <= set(self.numeric_features)

    def _neighbor_rows(self, frame: pd.DataFrame, y, days: np.ndarray) -> dict:
        """(lat, lon, day, log price per sqft, log price) of sales with a known price: what the
        neighbour features of later sales are computed from (outliers left out)."""
        lat, lon = self._coordinates(frame)
        log_price = np.log(np.asarray(y, dtype="float64"))
        sqft = (pd.to_numeric(frame["living_sqft"], errors="coerce").to_numpy(dtype="float64")
                if "living_sqft" in frame else np.full(len(frame), np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            log_ppsf = np.where(sqft > 0, log_price - np.log(np.where(sqft > 0, sqft, 1.0)), np.nan)
        keep = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(log_price)
        if "is_outlier" in frame:
            keep &= ~frame["is_outlier"].fillna(False).to_numpy(dtype=bool)
        return {"lat": lat[keep], "lon": lon[keep], "day": np.asarray(days, dtype=np.int64)[keep],
                "log_ppsf": log_ppsf[keep], "log_price": log_price[keep]}

    def _with_known(self, known: pd.DataFrame | None) -> dict:
        """The training sales' neighbour rows plus newly known sales (``known_rows``)."""
        history = self.neighbors_
        if known is None or "nb_lat" not in known:
            return history
        known = known[np.isfinite(known["nb_lat"].to_numpy(dtype="float64"))
                      & np.isfinite(known["nb_lon"].to_numpy(dtype="float64"))]
        extra = {"lat": known["nb_lat"], "lon": known["nb_lon"], "day": known["day"],
                 "log_ppsf": known["nb_log_ppsf"], "log_price": known["nb_log_price"]}
        return {key: np.concatenate([np.asarray(history[key]), np.asarray(extra[key], dtype=history[key].dtype)])
                for key in history}

    def _monotonic(self, columns, per_sqft: bool) -> dict | None:
        """``monotonic``: the estimate never falls as grade, view, waterfront, condition or the
        neighbours' price level rise, nor (ln price boosters) as the living area grows."""
        if not self.monotonic or columns is None:
            return None
        up = {"quality_grade", "view_score", "has_waterfront", "condition_code", "nearby10_log_ppsf",
              "nearby30_log_ppsf", "nearby10_log_price", "nearby10_recent_log_ppsf"}
        if not per_sqft:
            up |= {"living_sqft", "log_living_sqft"}
        return {name: 1 for name in columns if name in up} or None

    def _boosters(self, columns=None) -> list[HistGradientBoostingRegressor]:
        per_sqft = getattr(self, "sqft_target_", None) or [self.per_sqft] * len(self.seeds)
        squared = self._squared_error_positions()
        return [
            HistGradientBoostingRegressor(monotonic_cst=self._monotonic(columns, per_sqft[i]),
                loss="squared_error" if i in squared else "absolute_error",
                learning_rate=self.learning_rate, max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization, max_features=self.max_features,
                early_stopping=True, validation_fraction=0.1, n_iter_no_change=self.n_iter_no_change,
                categorical_features="from_dtype", random_state=seed,
            )
            for i, seed in enumerate(self.seeds)
        ]

    def _squared_error_positions(self) -> range:
        """The last ``squared_error_share`` of the boosters (5 seeds: the last 2) learn with squared error."""
        count = len(self.seeds)
        return range(count - int(round(getattr(self, "squared_error_share", 0.0) * count)), count)

    def _fit_boosters(self, design: pd.DataFrame, target: np.ndarray) -> list[HistGradientBoostingRegressor]:
        """Absolute-error boosters first; the squared-error ones then learn the target clipped to
        within ``squared_error_clip`` (log) of the absolute-error boosters' mean in-sample fit, so a
        few extreme sales do not pull their mean (a Huber-like loss). Without absolute-error
        boosters, or with ``squared_error_clip=0``, the target is not clipped."""
        boosters = self._boosters(list(design.columns))
        squared = self._squared_error_positions()
        fitted = {i: b.fit(design, target - self._offset(design, i))
                  for i, b in enumerate(boosters) if i not in squared}
        clipped = target
        bound = getattr(self, "squared_error_clip", 0.0)
        if fitted and len(squared) and bound > 0:
            robust = np.mean([fitted[i].predict(design) + self._offset(design, i) for i in fitted], axis=0)
            clipped = np.clip(target, robust - bound, robust + bound)
        for i in squared:
            fitted[i] = boosters[i].fit(design, clipped - self._offset(design, i))
        return [fitted[i] for i in range(len(boosters))]

    def _groups(self, frame: pd.DataFrame) -> np.ndarray:
        if self.group_feature and self.group_feature in frame:
            return frame[self.group_feature].astype("string").fillna("").to_numpy(dtype=object)
        return np.full(len(frame), "", dtype=object)

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y, sale_date=None):
        frame = X.reset_index(drop=True)
        self.categories_ = {
            col: list(frame[col].astype("string").value_counts().index[:MAX_CATEGORIES])
            for col in self.categorical_features
        }
        dates = _days(sale_date) if sale_date is not None else np.zeros(len(frame), dtype=np.int64)
        if self._uses_neighbors():
            self.neighbors_ = self._neighbor_rows(frame, y, dates)
        design = self._design(frame, dates)
        target = np.log(np.asarray(y, dtype=float))
        # per_sqft: the boosters learn ln(price / living area) (the median area stands in where it
        # is unknown); predictions add the log area back
        # mixed_target: boosters alternate (by seed position) between ln price and ln price per sqft
        self.log_sqft_fill_ = (float(np.nanmedian(design["log_living_sqft"]))
                               if (self.per_sqft or self.mixed_target) and "log_living_sqft" in design else None)
        self.sqft_target_ = [self.log_sqft_fill_ is not None and (self.per_sqft or i % 2 == 1)
                             for i in range(len(self.seeds))]
        self.boosters_ = self._fit_boosters(design, target)
        self.feature_names_ = list(design.columns)
        self.n_features_in_ = len(self.feature_names_)
        residuals = np.clip(target - self._stage1(design), -self.drift_clip, self.drift_clip)
        self.drift_center_ = float(np.mean(residuals))
        # plain arrays (not a DataFrame) so the model is stored with skops, without pickles
        self.history_ = {"day": np.asarray(dates, dtype=np.int64),
                         "group": self._groups(frame).astype(str),
                         "residual": np.asarray(residuals, dtype="float64")}
        self.residual_low_, self.residual_high_ = math.log(0.8), math.log(1.25)  # set by calibration
        if self._uses_comps(frame):
            # Stage 3 starts from out-of-fold residuals: in-sample ones are shrunk toward zero by the
            # trees that saw them; minus the drift index of their own day (prior sales only).
            oof = self._out_of_fold(design, target)
            drift = self.drift(self.history_["day"], self.history_["group"])
            self.history_["lat"], self.history_["lon"] = self._coordinates(frame)
            self.history_["comps_residual"] = np.clip(target - oof - drift, -self.drift_clip, self.drift_clip)
        return self

    # ------------------------------------------------------------------ stage 3: comparable sales
    def _uses_comps(self, frame: pd.DataFrame) -> bool:
        return self.comps_neighbors > 0 and "latitude" in frame and "longitude" in frame

    @staticmethod
    def _coordinates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        lat = pd.to_numeric(frame["latitude"], errors="coerce").to_numpy(dtype="float64")
        lon = pd.to_numeric(frame["longitude"], errors="coerce").to_numpy(dtype="float64")
        return lat, lon

    def _out_of_fold(self, design: pd.DataFrame, target: np.ndarray) -> np.ndarray:
        """Stage-1 predictions of each training row by boosters fitted without its fold (first seed)."""
        from sklearn.model_selection import KFold

        oof = np.empty(len(target))
        offset = np.broadcast_to(self._offset(design, 0), target.shape)
        folds = KFold(n_splits=max(2, self.comps_folds), shuffle=True, random_state=0)
        for fit_rows, held_rows in folds.split(design):
            booster = self._boosters(list(design.columns))[0].fit(design.iloc[fit_rows], target[fit_rows] - offset[fit_rows])
            oof[held_rows] = booster.predict(design.iloc[held_rows]) + offset[held_rows]
        return oof

    def comps(self, frame: pd.DataFrame, days: np.ndarray, history: pd.DataFrame) -> np.ndarray:
        """Stage 3: a distance-weighted, shrunk mean of the comps residuals of the nearest sales with a
        known price dated strictly before each valuation day (0 where there are none, or no
        coordinates). Residuals are net of the drift index, so the market level is not counted twice;
        a property's own earlier sale is one of its comparables (the repeat-sales signal)."""
        out = np.zeros(len(frame))
        if "comps_residual" not in history or not self._uses_comps(frame):
            return out
        history = history[np.isfinite(history["lat"]) & np.isfinite(history["lon"])
                          & np.isfinite(history["comps_residual"])]
        lat, lon = self._coordinates(frame)
        ok = np.isfinite(lat) & np.isfinite(lon)
        if history.empty or not ok.any():
            return out
        from scipy.spatial import cKDTree

        kx = 111.32 * math.cos(math.radians(float(np.nanmedian(history["lat"]))))
        points = np.column_stack([history["lat"].to_numpy() * 111.32, history["lon"].to_numpy() * kx])
        hist_day = history["day"].to_numpy(dtype=np.int64)
        hist_res = history["comps_residual"].to_numpy(dtype="float64")
        query = np.column_stack([lat[ok] * 111.32, lon[ok] * kx])
        k = self.comps_neighbors
        # ask for more neighbours than needed: later-dated ones are dropped
        ask = min(len(points), 4 * k)
        dist, idx = cKDTree(points).query(query, k=ask)
        dist, idx = np.atleast_2d(dist), np.atleast_2d(idx)
        if dist.shape[0] != query.shape[0]:
            dist, idx = dist.T, idx.T
        earlier = hist_day[idx] < np.asarray(days, dtype=np.int64)[ok][:, None]
        rank = np.cumsum(earlier, axis=1)
        use = earlier & (rank <= k)
        weight = np.where(use, 1.0 / (1.0 + (dist / self.comps_scale_km) ** 2), 0.0)
        total = (weight * hist_res[idx]).sum(axis=1)
        out[ok] = total / (weight.sum(axis=1) + self.comps_shrink)
        return out

    def set_interval(self, low: float, high: float, shift: float = 0.0) -> AVMModel:
        """Log-residual quantiles of the calibration slice (split-conformal), and the median
        log residual there (``shift``: added to every prediction when ``calibrate_shift``)."""
        self.residual_low_, self.residual_high_ = float(low), float(high)
        self.shift_ = float(shift)
        return self

    def history_frame(self) -> pd.DataFrame:
        """The training sales' (day, group, clipped log residual) rows the drift stage starts from."""
        return pd.DataFrame({key: np.asarray(value) for key, value in self.history_.items()})

    # ------------------------------------------------------------------ predict
    def _offset(self, design: pd.DataFrame, booster: int) -> np.ndarray | float:
        """What booster number ``booster`` adds back: the log area if it learned ln price per sqft."""
        if getattr(self, "log_sqft_fill_", None) is None:
            return 0.0
        per_sqft = getattr(self, "sqft_target_", None)
        if per_sqft is not None and not per_sqft[booster]:
            return 0.0
        return design["log_living_sqft"].fillna(self.log_sqft_fill_).to_numpy(dtype="float64")

    def _stage1(self, design: pd.DataFrame) -> np.ndarray:
        return np.mean([b.predict(design) + self._offset(design, i) for i, b in enumerate(self.boosters_)], axis=0)

    def base_log(self, X: pd.DataFrame, valuation_date=None) -> np.ndarray:
        """Stage 1 only (no drift correction)."""
        frame = X.reset_index(drop=True)
        return self._stage1(self._design(frame, self._dates_for(frame, valuation_date)))

    def _dates_for(self, frame: pd.DataFrame, valuation_date=None) -> np.ndarray:
        """Valuation days: given, else a date column of the rows, else the day after training."""
        if valuation_date is not None:
            return _days(valuation_date, len(frame))
        for column in ("valuation_date", "sale_date"):
            if column in frame:
                return _days(frame[column].to_numpy(), len(frame))
        return np.full(len(frame), int(np.max(self.history_["day"])) + 1, dtype=np.int64)

    def drift(self, days: np.ndarray, groups: np.ndarray, history: pd.DataFrame | None = None) -> np.ndarray:
        """Drift index for each (day, group): EW mean residual of known sales on earlier days."""
        history = self.history_frame() if history is None else history
        tau = self.drift_half_life_days / math.log(2)
        reference = int(max(history["day"].max(), int(np.max(days)) if len(days) else 0))
        overall = _ew_prior_mean(history["day"].to_numpy(), history["residual"].to_numpy(), days, reference, tau)
        result = overall.copy()
        if self.group_feature:
            for group in np.unique(groups):
                mine = groups == group
                part = history[history["group"] == group]
                if part.empty:
                    continue
                mean, weight = _ew_prior_mean(part["day"].to_numpy(), part["residual"].to_numpy(), days[mine],
                                              reference, tau, with_weight=True)
                # shrink toward all regions: as if DRIFT_SHRINK more sales at the overall mean
                blended = (mean * weight + overall[mine] * DRIFT_SHRINK) / (weight + DRIFT_SHRINK)
                result[mine] = np.where(weight > 0, blended, overall[mine])
        return np.where(np.isfinite(result), result - self.drift_center_, 0.0)

    def predict_at(self, X: pd.DataFrame, valuation_date, known: pd.DataFrame | None = None) -> np.ndarray:
        """Log predictions as of ``valuation_date`` (a date or one per row).

        ``known`` adds sales whose price became known after training: columns ``day``,
        ``group`` and ``residual`` (clipped log residual of the stage-1 model), e.g. earlier test sales.
        """
        frame = X.reset_index(drop=True)
        days = _days(valuation_date, len(frame))
        neighbors = self._with_known(known) if self._uses_neighbors() else None
        base = self._stage1(self._design(frame, days, neighbors))
        history = self.history_frame()
        if known is not None:
            known = known.copy()
            combined = pd.concat([history, known[["day", "group", "residual"]]], ignore_index=True)
            if "comps_residual" in history and "base_residual" in known:
                drift = self.drift(known["day"].to_numpy(dtype=np.int64), known["group"].to_numpy(dtype=object),
                                   combined)
                known["comps_residual"] = np.clip(known["base_residual"].to_numpy() - drift, -self.drift_clip,
                                                  self.drift_clip)
            known = known.drop(columns=["base_residual", *NEIGHBOR_KNOWN], errors="ignore")
            history = pd.concat([history, known], ignore_index=True)
        log_prediction = base + self.drift(days, self._groups(frame), history)
        if "comps_residual" in history:
            log_prediction = log_prediction + self.comps(frame, days, history)
        return log_prediction + getattr(self, "shift_", 0.0)

    def known_rows(self, X: pd.DataFrame, y, sale_date) -> pd.DataFrame:
        """History rows for sales with known prices (to pass as ``known`` to ``predict_at``)."""
        frame = X.reset_index(drop=True)
        days = _days(sale_date, len(frame))
        neighbors, extra = None, {}
        if self._uses_neighbors():
            # these sales are known to each other too (strictly earlier days only, as always)
            mine = self._neighbor_rows(frame, y, days)
            neighbors = {key: np.concatenate([np.asarray(self.neighbors_[key]), mine[key]]) for key in mine}
            extra = {f"nb_{key}": np.full(len(frame), np.nan) for key in ("lat", "lon", "log_ppsf", "log_price")}
            lat, lon = self._coordinates(frame)
            keep = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(np.log(np.asarray(y, dtype=float)))
            if "is_outlier" in frame:
                keep &= ~frame["is_outlier"].fillna(False).to_numpy(dtype=bool)
            for key in ("lat", "lon", "log_ppsf", "log_price"):
                extra[f"nb_{key}"][keep] = mine[key]
        base = self._stage1(self._design(frame, days, neighbors))
        raw = np.log(np.asarray(y, dtype=float)) - base
        rows = pd.DataFrame({"day": days, "group": self._groups(frame),
                             "residual": np.clip(raw, -self.drift_clip, self.drift_clip), **extra})
        if "comps_residual" in self.history_ and self._uses_comps(frame):
            rows["lat"], rows["lon"] = self._coordinates(frame)
            rows["base_residual"] = raw
        return rows

    def predict_log(self, X: pd.DataFrame) -> np.ndarray:
        frame = X.reset_index(drop=True)
        return self.predict_at(frame, self._dates_for(frame))

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Estimate with its 80 % interval: columns ``estimate``, ``lower``, ``upper`` (what the
        MLflow signature declares and ``mlflow models serve`` answers)."""
        log_prediction = self.predict_log(X)
        lower, upper = self.interval(log_prediction)
        return pd.DataFrame({"estimate": np.exp(log_prediction), "lower": lower, "upper": upper})

    def interval(self, log_prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.exp(log_prediction + self.residual_low_), np.exp(log_prediction + self.residual_high_)


NEIGHBOR_KNOWN = ("nb_lat", "nb_lon", "nb_log_ppsf", "nb_log_price")
NEIGHBOR_ASK = 300  # nearest sales looked at; the later-dated ones among them are dropped
NEIGHBOR_SCALE_KM = 0.5  # distance weight 1 / (1 + (d / scale)^2)
NEIGHBOR_HALF_LIFE_DAYS = 180.0  # recency weight of the recent-price column


def neighbor_columns(lat: np.ndarray, lon: np.ndarray, days: np.ndarray, history: dict) -> dict:
    """The neighbour price level of each row: over the nearest sales with a known price dated
    strictly before the row's day, the distance-weighted mean log price per sqft of the 10 and 30
    nearest, the mean log price of the 10 nearest, a recency-weighted (half-life 180 days) mean
    log price per sqft of the 10 nearest, and their mean distance in km. NaN where there are none
    (no coordinates, or no earlier sale among the NEIGHBOR_ASK nearest)."""
    n = len(lat)
    out = {name: np.full(n, np.nan) for name in NEIGHBOR_COLUMNS}
    h_lat, h_lon = np.asarray(history["lat"], dtype="float64"), np.asarray(history["lon"], dtype="float64")
    ok = np.isfinite(lat) & np.isfinite(lon)
    if len(h_lat) == 0 or not ok.any():
        return out
    from scipy.spatial import cKDTree

    kx = 111.32 * math.cos(math.radians(float(np.nanmedian(h_lat))))
    tree = cKDTree(np.column_stack([h_lat * 111.32, h_lon * kx]))
    h_day = np.asarray(history["day"], dtype=np.int64)
    h_ppsf = np.asarray(history["log_ppsf"], dtype="float64")
    h_price = np.asarray(history["log_price"], dtype="float64")
    rows = np.flatnonzero(ok)
    ask = min(len(h_lat), NEIGHBOR_ASK)
    tau = NEIGHBOR_HALF_LIFE_DAYS / math.log(2)
    for start in range(0, len(rows), 5000):  # bounded memory: 5,000 x 300 neighbours at a time
        part = rows[start:start + 5000]
        dist, idx = tree.query(np.column_stack([lat[part] * 111.32, lon[part] * kx]), k=ask)
        dist, idx = dist.reshape(len(part), ask), idx.reshape(len(part), ask)
        earlier = h_day[idx] < days[part][:, None]
        rank = np.cumsum(earlier, axis=1)
        near = 1.0 / (1.0 + (dist / NEIGHBOR_SCALE_KM) ** 2)
        age = np.maximum(days[part][:, None] - h_day[idx], 0)
        for k in (10, 30):
            use = earlier & (rank <= k)
            out[f"nearby{k}_log_ppsf"][part] = _weighted_mean(h_ppsf[idx], np.where(use, near, 0.0))
            if k == 10:
                out["nearby10_log_price"][part] = _weighted_mean(h_price[idx], np.where(use, near, 0.0))
                out["nearby10_recent_log_ppsf"][part] = _weighted_mean(
                    h_ppsf[idx], np.where(use, near * np.exp(-age / tau), 0.0))
                out["nearby10_distance_km"][part] = _weighted_mean(dist, use.astype("float64"))
    return out


NEIGHBOR_COLUMNS = ("nearby10_log_ppsf", "nearby30_log_ppsf", "nearby10_log_price", "nearby10_recent_log_ppsf",
                    "nearby10_distance_km")


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted mean ignoring NaN values (NaN where no weight is left)."""
    weights = np.where(np.isfinite(values), weights, 0.0)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights * np.nan_to_num(values)).sum(axis=1) / np.where(total > 0, total, 1.0),
                        np.nan)


_EPOCH = np.datetime64("2000-01-01", "D")


def _days(values, n: int | None = None) -> np.ndarray:
    """Days since 2000-01-01 for dates / datetimes / day numbers (scalar broadcast to n)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64)
    else:
        out = (pd.to_datetime(pd.Series(np.atleast_1d(arr))).to_numpy().astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if out.ndim == 0 or (n is not None and out.size == 1 and n != 1):
        out = np.full(n if n is not None else 1, int(np.atleast_1d(out)[0]), dtype=np.int64)
    return out


def _ew_prior_mean(hist_days, hist_values, query_days, reference, tau, with_weight=False):
    """Exponentially weighted mean of ``hist_values`` over history days strictly before each query
    day (NaN when none). Daily sums + cumulative sums + a binary search: O(n log n)."""
    query_days = np.asarray(query_days, dtype=np.int64)
    if len(hist_days) == 0:
        empty = np.full(len(query_days), np.nan)
        return (empty, np.zeros(len(query_days))) if with_weight else empty
    frame = pd.DataFrame({"day": hist_days, "v": hist_values})
    daily = frame.groupby("day", sort=True).agg(n=("v", "size"), s=("v", "sum"))
    day = daily.index.to_numpy(dtype=np.int64)
    weight = np.exp((day - reference) / tau)  # ≤ 1: no overflow; ratios cancel the reference
    cum_w = np.concatenate([[0.0], np.cumsum(weight * daily["n"].to_numpy())])
    cum_s = np.concatenate([[0.0], np.cumsum(weight * daily["s"].to_numpy())])
    idx = np.searchsorted(day, query_days, side="left")  # days strictly before the query day
    w, s = cum_w[idx], cum_s[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(w > 0, s / w, np.nan)
    if with_weight:
        # effective number of sales, in units of a sale on the query day
        return mean, w * np.exp((reference - query_days) / tau)
    return mean
