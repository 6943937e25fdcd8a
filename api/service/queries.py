"""Every SQL statement the API runs (bound parameters only; marts and the load ledger only).

Batched forms (``… = any(%s)``) serve GraphQL's DataLoaders: one statement per nested list."""

from __future__ import annotations

PROPERTY_COLUMNS = """
    p.property_id, p.source_system, p.region_id, p.region_name, p.submarket_id, p.submarket_name,
    p.property_type, p.property_subtype, p.address, p.unit_number, p.city, p.postcode, p.country_code,
    p.currency_code, p.latitude, p.longitude, p.living_sqft, p.lot_sqft, p.bedrooms, p.bathrooms, p.stories,
    p.year_built, p.year_renovated, p.quality_grade, p.condition_code, p.is_waterfront, p.is_new_build,
    p.last_transfer_price, p.last_transfer_date, p.attributes_as_of
"""

VALUATION_COLUMNS = """
    v.property_id, v.model_name, v.model_version, v.estimate, v.estimate_lower, v.estimate_upper,
    v.interval_width_pct, v.estimate_per_sqft, v.currency_code, v.valuation_date, v.scored_at
"""

LIST_PROPERTIES = f"""
select {PROPERTY_COLUMNS}, v.estimate, v.estimate_lower, v.estimate_upper, v.valuation_date, v.model_version
from marts.dim_properties p
left join marts.mart_property_valuations v on v.property_id = p.property_id
where (%(region_id)s::text is null or p.region_id = %(region_id)s)
  and (%(postcode)s::text is null or p.postcode = %(postcode)s)
  and (%(property_type)s::text is null or p.property_type = %(property_type)s)
  and (%(after)s::text is null or p.property_id > %(after)s)
order by p.property_id
limit %(limit)s
"""

PROPERTIES_BY_ID = f"select {PROPERTY_COLUMNS} from marts.dim_properties p where p.property_id = any(%s)"

VALUATIONS_BY_PROPERTY = f"select {VALUATION_COLUMNS} from marts.mart_property_valuations v where v.property_id = any(%s)"

SALES_BY_PROPERTY = """
select s.property_id, s.sale_id, s.sale_date, s.sale_price, s.currency_code, s.price_per_sqft,
       s.is_arms_length, s.is_outlier, s.non_arms_length_reason, s.transfer_code, s.source_system
from marts.fct_sales s
where s.property_id = any(%s)
order by s.property_id, s.sale_date desc, s.sale_id
"""

# The most similar recent arm's-length sales of the same submarket and type (size within ±25 %),
# in the two years before the valuation date (or the latest sale).
COMPARABLES = """
with subject as (
    select p.property_id, p.submarket_id, p.region_id, p.property_type, p.living_sqft,
           coalesce(v.valuation_date, current_date) as as_of
    from marts.dim_properties p
    left join marts.mart_property_valuations v on v.property_id = p.property_id
    where p.property_id = %(property_id)s
)
select s.sale_id, s.property_id, s.sale_date, s.sale_price, s.price_per_sqft, s.living_sqft, s.bedrooms,
       s.postcode, s.currency_code,
       abs(s.living_sqft - subject.living_sqft)::float / nullif(subject.living_sqft, 0) as size_difference_pct
from subject
join marts.fct_sales s
  on s.submarket_id = subject.submarket_id
 and s.property_type = subject.property_type
 and s.property_id <> subject.property_id
 and s.is_arms_length and not s.is_outlier and s.sale_price > 0
 and s.sale_date <= subject.as_of and s.sale_date > subject.as_of - 730
 and (subject.living_sqft is null
      or s.living_sqft between subject.living_sqft * 0.75 and subject.living_sqft * 1.25)
order by abs(coalesce(s.living_sqft, 0) - coalesce(subject.living_sqft, 0)), s.sale_date desc, s.sale_id
limit %(limit)s
"""

SALE_FILES = """
select distinct s.source_system, s.file_key from marts.fct_sales s
where s.property_id = %s and s.file_key is not null order by 1, 2
"""

LEDGER_VERSIONS = """
select l.contract, l.file_key, l.file_version, l.finished_at as loaded_at
from ingestion_meta.load_ledger l
where l.file_key = any(%s) and l.status = 'loaded' and l.superseded_at is null
order by l.file_key, l.finished_at
"""

PROPERTY_BUILD = "select dbt_updated_at, loaded_at from marts.dim_properties where property_id = %s"

MARKET_MONTHLY = """
select region_id, activity_month, currency_code, transfers_count, sales_count, median_sale_price,
       median_price_per_sqft, median_sale_price_yoy_pct, new_listings_count, sold_listings_count,
       median_days_on_market, active_listings_count, months_of_supply, terraminer_index_value
from marts.mart_market_monthly
where region_id = any(%(regions)s)
  and (%(start)s::date is null or activity_month >= %(start)s)
  and (%(end)s::date is null or activity_month <= %(end)s)
order by region_id, activity_month
"""

INDICES = """
select region_id, index_source, series_id, index_unit, index_method, index_month, index_value,
       index_value_rebased, mom_change_pct, yoy_change_pct, sales_count
from marts.fct_price_index_monthly
where region_id = any(%s)
order by region_id, index_source = 'terraminer' desc, index_source, series_id, index_month
"""

ALERTS = """
select alert_id, alert_type, severity, region_id, subject_type, subject_id, property_id, message,
       metric_value, threshold_value, detected_for_date
from marts.mart_alerts
where (%(regions)s::text[] is null or region_id = any(%(regions)s))
  and (%(since)s::date is null or detected_for_date >= %(since)s)
  and (%(alert_type)s::text is null or alert_type = %(alert_type)s)
  and (%(after_date)s::date is null or (detected_for_date, alert_id) > (%(after_date)s, %(after_id)s))
order by detected_for_date, alert_id
limit %(limit)s
"""

REGION_EXISTS = """
select exists (select 1 from marts.mart_market_monthly where region_id = %(r)s)
    or exists (select 1 from marts.fct_price_index_monthly where region_id = %(r)s)
    or exists (select 1 from marts.dim_properties where region_id = %(r)s)
"""

# The data version when no build has published one: a fingerprint of the newest rows the marts hold.
FINGERPRINT = """
select md5(concat_ws('|',
    (select max(scored_at)::text || count(*) from marts.mart_property_valuations),
    (select max(dbt_updated_at)::text || count(*) from marts.dim_properties),
    (select max(dbt_updated_at)::text || count(*) from marts.fct_sales),
    (select count(*)::text || max(detected_for_date) from marts.mart_alerts),
    (select count(*)::text || max(activity_month) || sum(sales_count) from marts.mart_market_monthly),
    (select count(*)::text || max(index_month) || sum(index_value) from marts.fct_price_index_monthly)
))
"""

FRESHNESS = """
select (select max(valuation_date) from marts.mart_property_valuations) as valuation_date,
       (select max(scored_at) from marts.mart_property_valuations) as scored_at,
       (select max(activity_month) from marts.mart_market_monthly) as market_month,
       (select max(detected_for_date) from marts.mart_alerts) as alerts_through
"""
