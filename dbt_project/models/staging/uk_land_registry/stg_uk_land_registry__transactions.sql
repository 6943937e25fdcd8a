{#- One row per live UK price-paid transaction (the loader already merged the change files).
    Postcodes get one space before the inward code; the address is built from the flat (SAON),
    house (PAON) and street parts; property_key identifies the dwelling (postcode, PAON, SAON,
    street and town) since the feed has no property id. -#}
with

source as (

    select * from {{ source_or_empty('uk_land_registry', 'price_paid') }}

),

standardized as (

    select
        cast(upper(trim(transaction_id)) as varchar(40)) as sale_id,
        cast(
            {{ standardize_address(
                "coalesce(trim(saon) || ' ', '') || coalesce(trim(paon) || ' ', '') || coalesce(trim(street), '')"
            ) }} as varchar(320)
        ) as address,
        cast({{ standardize_address('saon') }} as varchar(100)) as saon,
        cast({{ standardize_address('paon') }} as varchar(100)) as paon,
        cast({{ standardize_address('street') }} as varchar(100)) as street,
        cast({{ standardize_address('locality') }} as varchar(100)) as locality,
        cast({{ standardize_address('town_city') }} as varchar(100)) as town,
        cast({{ standardize_address('district') }} as varchar(100)) as district,
        cast({{ standardize_address('county') }} as varchar(100)) as county,
        cast({{ standardize_uk_postcode('postcode') }} as varchar(8)) as postcode,
        cast(upper(trim(property_type)) as varchar(1)) as property_type_code,
        cast(upper(trim(duration)) as varchar(1)) as tenure_code,
        cast(upper(trim(ppd_category)) as varchar(1)) as ppd_category,
        cast(upper(trim(record_status)) as varchar(1)) as record_status,
        cast(price as numeric(14, 2)) as sale_price,
        coalesce(upper(trim(old_new)) = 'Y', false) as is_new_build,
        cast(date_of_transfer as date) as sale_date,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source

),

final as (

    select
        sale_id,
        {{ surrogate_key(['postcode', 'paon', 'saon', 'street', 'town']) }} as property_key,
        address,
        saon,
        paon,
        street,
        locality,
        town,
        district,
        county,
        postcode,
        property_type_code,
        tenure_code,
        ppd_category,
        record_status,
        sale_price,
        is_new_build,
        sale_date,
        file_key,
        file_row_number,
        loaded_at
    from standardized

)

select * from final
