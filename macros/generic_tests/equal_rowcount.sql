{#- Two relations hold the same number of rows (optionally each filtered). On an incremental
    build (macros/test_scope/test_scope.sql) both sides count only the rows loaded since the test last
    passed when both declare a lineage column, otherwise both count everything. -#}
{% test equal_rowcount(model, compare_model, where_model=none, where_compare=none) %}
{%- set model_scope = test_scope_predicate(model) -%}
{%- set compare_scope = test_scope_predicate(compare_model) -%}
{%- set scoped = model_scope is not none and compare_scope is not none -%}
{%- set model_filters = ([where_model] if where_model else []) + ([model_scope] if scoped else []) -%}
{%- set compare_filters = ([where_compare] if where_compare else []) + ([compare_scope] if scoped else []) -%}
with

model_rows as (
    select count(*) as n_rows
    from {{ model }}
    {%- if model_filters %}
    where {{ model_filters | join(' and ') }}
    {%- endif %}
),

compare_rows as (
    select count(*) as n_rows
    from {{ compare_model }}
    {%- if compare_filters %}
    where {{ compare_filters | join(' and ') }}
    {%- endif %}
)

select
    model_rows.n_rows as model_rows,
    compare_rows.n_rows as compare_rows
from model_rows
cross join compare_rows
where model_rows.n_rows <> compare_rows.n_rows
{% endtest %}
