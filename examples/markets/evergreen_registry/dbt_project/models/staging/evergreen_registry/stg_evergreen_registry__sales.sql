{#- README "Add a market": the feed in the canonical sale columns, only those it has (no year
    built, no address): int_market_feeds__sales adds the rest as typed nulls. Areas stay in the
    region's unit (m², regions.area_unit) as <x>_area. -#}
select
    deed_no as source_sale_id,
    parcel as source_property_id,
    amount_eur as sale_price,
    sold_on as sale_date,
    postal_code as postcode,
    rooms as bedrooms,
    baths as bathrooms,
    levels as stories,
    floor_area_m2 as living_area,
    plot_area_m2 as lot_area,
    state as condition_code,
    build_grade as quality_grade,
    outlook as view_score,
    on_water = 1 as is_waterfront,
    lat as latitude,
    lon as longitude,
    _file_key as file_key,
    _loaded_at as loaded_at
from {{ source_or_empty('evergreen_registry', 'sales') }}
