{#- Primary key: every key column not null and the (possibly composite) key unique.
    Returns one row per kind of violation, with the number of offending rows. -#}
{% test primary_key(model, columns) %}
    {%- set key_columns = [columns] if columns is string else columns -%}

with

null_keys as (

    select count(*) as offending_rows
    from {{ model }}
    where
        {%- for column in key_columns %}
        {{ 'or ' if not loop.first }}{{ column }} is null
        {%- endfor %}

),

duplicate_keys as (

    select count(*) as offending_rows
    from (
        select {{ key_columns | join(', ') }}
        from {{ model }}
        group by {{ key_columns | join(', ') }}
        having count(*) > 1
    ) as duplicated

),

violations as (

    select 'null key' as violation, offending_rows from null_keys
    union all
    select 'duplicate key' as violation, offending_rows from duplicate_keys

)

select * from violations
where offending_rows > 0

{% endtest %}
