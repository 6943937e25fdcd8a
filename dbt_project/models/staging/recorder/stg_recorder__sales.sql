{#- One row per deed. Exact re-delivered duplicates (same deed, same content) are dropped;
    buyer and seller names are hashed here and never travel further.
    The dedupe is an anti-join (a row survives unless an earlier line of the same document exists:
    a lower file key, or the same file and a lower line number; one comparison, no OR, so Redshift
    decorrelates it too) rather than a row_number() window:
    a window over the whole raw table blocks predicate pushdown, so fct_sales' incremental filter
    on loaded_at could not reach the raw scan. The raw relation is named again inside the
    anti-join (not the CTE) because PostgreSQL materializes CTEs referenced twice. -#}
with

source as (

    select * from {{ source('recorder', 'sales') }}

),

first_deliveries as (

    select source.*
    from source
    where not exists (
        select 1
        from {{ source('recorder', 'sales') }} as earlier
        where
            earlier.document_number = source.document_number
            and {{ delivery_order('earlier') }} < {{ delivery_order('source') }}
    )

),

final as (

    select
        cast(document_number as varchar(24)) as sale_id,
        cast(parcel_id as varchar(20)) as parcel_id,
        cast(sale_date as date) as sale_date,
        cast(recording_date as date) as recording_date,
        cast(sale_price as numeric(14, 2)) as sale_price,
        cast(upper(trim(deed_type)) as varchar(8)) as deed_type,
        {{ hash_personal('buyer_name') }} as buyer_name_hash,
        {{ hash_personal('seller_name') }} as seller_name_hash,
        coalesce({{ surname('buyer_name') }} = {{ surname('seller_name') }}, false) as is_related_party,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from first_deliveries

)

select * from final
