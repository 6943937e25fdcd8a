{#- Project-level override of dbt's is_incremental(): identical for real runs, but during an
    offline Redshift compile (var offline_compile) it answers without querying the database,
    so incremental models compile with no connection. -#}
{% macro is_incremental() %}
    {%- if var('offline_compile', false) -%}
        {{ return(var('offline_is_incremental', true)) }}
    {%- endif -%}
    {{ return(dbt.is_incremental()) }}
{% endmacro %}
