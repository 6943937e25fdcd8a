{#- Deletes from an incremental model ({{ this }}) the rows of a change-feed source whose
    transaction the feed deleted: gone from the live staging relation. Skipped at no cost (a
    one-time filter) unless change rows arrived since the model's watermark; nothing on a full
    build. The model passes the relations from its pre-hook, so the lineage shows both edges:

        pre_hook=["{{ delete_rows_gone_from_feed(ref('stg_…_changes'), ref('stg_…'),
                                                 'uk_land_registry', 'uk:') }}"]

    changes        relation of the feed's change rows (has loaded_at)
    live           relation of the live rows (has the source's own sale_id)
    source_system  the model's source_system value of that feed
    key_prefix     the prefix the model puts before the source's sale_id -#}
{% macro delete_rows_gone_from_feed(changes, live, source_system, key_prefix) -%}
    {%- for constant in [source_system, key_prefix] if "'" in constant or "\\" in constant -%}
        {{ exceptions.raise_compiler_error("delete_rows_gone_from_feed: source_system and key_prefix are "
                                           ~ "model constants, without quotes or backslashes") }}
    {%- endfor -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where
        source_system = '{{ source_system }}'
        and exists (
            select 1
            from {{ changes }} as changes
            where changes.loaded_at > {{ load_watermark() }}
        )
        and not exists (
            select 1
            from {{ live }} as live
            where '{{ key_prefix }}' || live.sale_id = {{ this.identifier }}.sale_id
        )
    {%- endif -%}
{%- endmacro %}
