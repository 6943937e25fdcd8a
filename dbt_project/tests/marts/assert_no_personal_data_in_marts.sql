{#- Personal data never leaves staging: no column of the marts schema carries buyer or seller
    names or their hashes. -#}
select
    table_name,
    column_name
from information_schema.columns
where
    table_schema = '{{ ref("fct_sales").schema }}'
    and (
        lower(column_name) like '%buyer%'
        or lower(column_name) like '%seller%'
        or lower(column_name) like '%name_hash%'
    )
