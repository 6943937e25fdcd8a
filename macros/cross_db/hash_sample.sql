{#- A deterministic sample of about `target_rows` rows of `relation` (optionally restricted by
    `where`), as a predicate on the hash of `column`: rows whose first six hex digits of
    md5(column) fall below a threshold. The threshold comes from the relation's size at compile
    time, so brute-force checks cost the same on 50k rows as on 1M; string comparison of
    fixed-length lowercase hex orders like the numbers, on Postgres and Redshift alike. Where the
    warehouse cannot be asked (parse, offline compile, a relation not built yet) the fraction is
    `default_fraction`. -#}
{% macro hash_sample(column, relation, where=none, target_rows=500, default_fraction=0.00390625) -%}
    {%- set fraction = default_fraction -%}
    {%- set existing = load_relation(relation) if execute and not var('offline_compile', false) else none -%}
    {%- if existing is not none -%}
        {%- set query -%}
            select count(*) from {{ relation }}{% if where %} where {{ where }}{% endif %}
        {%- endset -%}
        {%- set rows = run_query(query).columns[0].values()[0] | int -%}
        {%- set fraction = [1.0, target_rows / ([rows, 1] | max)] | min -%}
    {%- endif -%}
    {%- set threshold = (fraction * 16777216) | round(0, 'ceil') | int -%}
    {%- if threshold >= 16777216 -%}
        1 = 1
    {%- else -%}
        substr({{ dbt.hash(column) }}, 1, 6) < '{{ "%06x" | format(threshold) }}'
    {%- endif -%}
{%- endmacro %}
