{#- Custom incremental strategy "replace_file" (config incremental_strategy='replace_file'):
    delete+insert on the unique key, preceded by deleting every row of each file the batch
    re-loaded (batch rows loaded after the target's watermark carry the complete new version of
    their file). So a line that a corrected re-delivery no longer contains does not linger, the
    semantics of the loader's replace_file mode. Rows re-read only by the lookback window do not
    trigger it (their file was not re-loaded). The file keys are joined from the (small) batch
    table, never inlined into the SQL text (a key may hold any character: quotes, backslashes,
    semicolons); the delete runs before the insert, while the target's max loaded_at is still the
    previous watermark. A run that re-derives past landing days (reprocess.sql) replaces every
    file landed on those days the same way. -#}
{% macro get_incremental_replace_file_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {#- a run re-deriving past landing days (macros/incremental/reprocess.sql): their files too -#}
    {%- set reprocessed = landed_in_reprocess_range('reloaded.file_key') -%}
    {%- set reloaded_files_sql -%}
        select distinct reloaded.file_key
        from {{ batch }} as reloaded
        where
            reloaded.file_key is not null
            and (
                reloaded.loaded_at > (select {{ incremental_watermark() }} from {{ target }})
                {%- if reprocessed %}
                or {{ reprocessed }}
                {%- endif %}
            )
    {%- endset -%}
delete from {{ target }}
where file_key in (
    {{ reloaded_files_sql | indent(4) }}
);

{{ get_delete_insert_merge_sql(
    target, batch, arg_dict['unique_key'], arg_dict['dest_columns'], arg_dict['incremental_predicates']
) }}
{%- endmacro %}
