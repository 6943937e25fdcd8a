{#- One row per deed. Exact re-delivered duplicates (same deed, same content) are dropped;
    buyer and seller names are hashed here and never travel further. -#}
with

source as (

    select * from {{ source('recorder', 'sales') }}

),

renamed as (

    select
        cast(document_number as varchar(24)) as sale_id,
        cast(parcel_id as varchar(20)) as parcel_id,
        cast(sale_date as date) as sale_date,
        cast(recording_date as date) as recording_date,
        cast(sale_price as numeric(14, 2)) as sale_price,
        cast(upper(trim(deed_type)) as varchar(8)) as deed_type,
        {{ hash_personal('buyer_name') }} as buyer_name_hash,
        {{ hash_personal('seller_name') }} as seller_name_hash,
        {{ surname('buyer_name') }} = {{ surname('seller_name') }} as is_related_party,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by sale_id
            order by file_key, file_row_number
        ) as occurrence
    from renamed

),

final as (

    select
        sale_id,
        parcel_id,
        sale_date,
        recording_date,
        sale_price,
        deed_type,
        buyer_name_hash,
        seller_name_hash,
        coalesce(is_related_party, false) as is_related_party,
        file_key,
        file_row_number,
        loaded_at
    from deduplicated
    where occurrence = 1

)

select * from final
