{#- One row per change record of the UK price-paid feed (add, change or delete), in landing
    order: the audit trail of how each transaction reached its live state. A byte-identical
    re-delivered file under a new key stays visible here as a repeat of the same changes. -#}
with

source as (

    select * from {{ source_or_empty('uk_land_registry', 'price_paid_changes') }}

),

final as (

    select
        {{ surrogate_key(['_file_key', '_row_number']) }} as change_id,
        cast(upper(trim(transaction_id)) as varchar(40)) as sale_id,
        cast(
            case upper(trim(record_status))
                when 'A' then 'add'
                when 'C' then 'change'
                when 'D' then 'delete'
            end as varchar(8)
        ) as change_type,
        cast({{ standardize_uk_postcode('postcode') }} as varchar(8)) as postcode,
        cast(upper(trim(property_type)) as varchar(1)) as property_type_code,
        cast(upper(trim(ppd_category)) as varchar(1)) as ppd_category,
        cast(price as numeric(14, 2)) as sale_price,
        cast(date_of_transfer as date) as sale_date,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source

)

select * from final
