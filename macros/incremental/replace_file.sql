{#- Incremental machinery of fct_sales. -#}

{#- The load watermark of an incremental fact: the newest loaded_at it holds (a date far in the
    past when it is empty, so the first incremental run reads everything). -#}
{% macro incremental_watermark(column='loaded_at') -%}
    coalesce(max({{ column }}), cast('1900-01-01' as timestamp with time zone))
{%- endmacro %}

{#- The watermark as SQL for an incremental run's filters. When dbt can ask the database (a real
    run) it is read once and inlined as a literal, so PostgreSQL plans the new-rows scan with real
    selectivity (a handful of rows: index lookups instead of full-table hash joins); offline
    compiles and unit tests get the equivalent scalar subquery. -#}
{% macro load_watermark(column='loaded_at') -%}
    {%- set subquery = '(select ' ~ incremental_watermark(column) ~ ' from ' ~ this ~ ')' -%}
    {%- if not execute or var('offline_compile', false) or this is string
        or model.resource_type == 'unit_test' -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set result = run_query('select cast(' ~ incremental_watermark(column) ~ ' as varchar(64)) from ' ~ this) -%}
    {{ return("cast('" ~ result.columns[0].values()[0] ~ "' as timestamp with time zone)") }}
{%- endmacro %}

{#- Custom incremental strategy "replace_file" (config incremental_strategy='replace_file'):
    delete+insert on the unique key, preceded by deleting every row of each file the batch
    re-loaded (batch rows loaded after the target's watermark carry the complete new version of
    their file). So a line that a corrected re-delivery no longer contains does not linger, the
    semantics of the loader's replace_file mode. Rows re-read only by the lookback window do not
    trigger it (their file was not re-loaded). The file keys are read from the (small) batch
    first and inlined, so the delete is an index lookup; it runs before the insert, while the
    target's max loaded_at is still the previous watermark. -#}
{% macro get_incremental_replace_file_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set reloaded_files_sql -%}
        select distinct reloaded.file_key
        from {{ batch }} as reloaded
        where
            reloaded.file_key is not null
            and reloaded.loaded_at > (select {{ incremental_watermark() }} from {{ target }})
    {%- endset -%}
    {%- set reloaded_files = run_query(reloaded_files_sql).columns[0].values() if execute else [] -%}
    {%- if reloaded_files | length > 0 -%}
delete from {{ target }}
where file_key in (
    {%- for file_key in reloaded_files %}
    '{{ file_key | replace("'", "''") }}'{{ ',' if not loop.last }}
    {%- endfor %}
);
    {% endif -%}
{{ get_delete_insert_merge_sql(
    target, batch, arg_dict['unique_key'], arg_dict['dest_columns'], arg_dict['incremental_predicates']
) }}
{%- endmacro %}

{#- Pre-hook of fct_sales (incremental runs only), in the model's transaction: UK transactions
    the change feed deleted (gone from the live raw table) are deleted. Skipped at no cost (a
    one-time filter) unless UK change rows arrived since the watermark. -#}
{% macro fct_sales_remove_deleted_transactions() %}
    {%- if is_incremental() -%}
delete from {{ this }}
where
    source_system = 'uk_land_registry'
    and exists (
        select 1
        from {{ ref('stg_uk_land_registry__transaction_changes') }} as changes
        where changes.loaded_at > {{ load_watermark() }}
    )
    and not exists (
        select 1
        from {{ ref('stg_uk_land_registry__transactions') }} as live
        where 'uk:' || live.sale_id = {{ this.identifier }}.sale_id
    )
    {%- endif -%}
{% endmacro %}
