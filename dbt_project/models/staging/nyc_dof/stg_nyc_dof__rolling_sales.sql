{#- One row per NYC sale line. Exact duplicate lines (the published files repeat 48 of them) are
    dropped with a DISTINCT over every delivered column, which keeps the load watermark
    (loaded_at) filterable below it. Bulk deals (one price over several lots or units) stay one
    row per lot/unit as published. Zero areas and zero years mean unknown and become null. -#}
with

source as (

    select * from {{ source_or_empty('nyc_dof', 'rolling_sales') }}

),

renamed as (

    select
        cast(borough as smallint) as borough_code,
        cast(block as integer) as tax_block,
        cast(lot as integer) as tax_lot,
        cast(upper(trim(neighborhood)) as varchar(64)) as neighbourhood,
        cast(left(trim(building_class_category), 2) as varchar(2)) as building_class_category_code,
        cast(upper(trim(building_class_category)) as varchar(80)) as building_class_category,
        cast(upper(trim(tax_class_at_present)) as varchar(4)) as tax_class_at_present,
        cast(upper(trim(building_class_at_present)) as varchar(4)) as building_class_at_present,
        cast(upper(trim(building_class_at_time_of_sale)) as varchar(4)) as building_class_at_sale,
        cast(nullif(upper(trim(easement)), '') as varchar(32)) as easement,
        cast(
            {{ standardize_address(dbt.split_part('address', "','", 1)) }} as varchar(128)
        ) as address,
        cast(
            coalesce(
                {{ standardize_address('apartment_number') }},
                {{ standardize_address("case when address like '%,%' then " ~ dbt.split_part('address', "','", 2) ~ " end") }}
            ) as varchar(32)
        ) as unit_number,
        cast({{ standardize_us_postcode('zip_code') }} as varchar(5)) as postcode,
        cast(tax_class_at_time_of_sale as smallint) as tax_class_at_sale,
        cast(residential_units as integer) as residential_units,
        cast(commercial_units as integer) as commercial_units,
        cast(total_units as integer) as total_units,
        cast(nullif(gross_square_feet, 0) as integer) as living_sqft,
        cast(nullif(land_square_feet, 0) as integer) as lot_sqft,
        cast(nullif(year_built, 0) as smallint) as year_built,
        cast(sale_price as numeric(14, 2)) as sale_price,
        cast(sale_date as date) as sale_date,
        _file_key as file_key,
        _loaded_at as loaded_at
    from source

),

deduplicated as (

    select distinct * from renamed

),

final as (

    select
        {{ surrogate_key([
            'borough_code', 'tax_block', 'tax_lot', 'neighbourhood', 'building_class_category',
            'tax_class_at_present', 'building_class_at_present', 'building_class_at_sale', 'easement',
            'address', 'unit_number', 'postcode', 'tax_class_at_sale', 'residential_units',
            'commercial_units', 'total_units', 'living_sqft', 'lot_sqft', 'year_built', 'sale_price',
            'sale_date',
        ]) }} as sale_id,
        cast(
            cast(borough_code as varchar(1)) || '-' || cast(tax_block as varchar(8)) || '-'
            || cast(tax_lot as varchar(8))
            || coalesce('-' || unit_number, '') as varchar(64)
        ) as property_key,
        *
    from deduplicated

)

select * from final
