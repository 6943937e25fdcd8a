{#- The model holds at least one row. On an incremental build (macros/test_scope/test_scope.sql) it passes
    without reading the model when it passed before and none of its inputs changed since, and
    otherwise looks for a new row first (one index range) before scanning the whole model. -#}
{% test not_empty(model) %}
{%- set tested = test_scope_tested_node() -%}
{%- set column = test_scope_column(tested) -%}
{%- set boundary = test_scope_boundary() -%}
{%- if boundary is not none and not test_scope_inputs_changed(model_depends_on(), boundary) %}
select 'model is empty' as failure
where 1 = 0
{%- else %}
select 'model is empty' as failure
where
    {%- if boundary is not none and column is not none %}
    not exists (select 1 from {{ model }} where {{ adapter.quote(column) }} > {{ boundary }})
    and
    {%- endif %}
    not exists (select 1 from {{ model }})
{%- endif %}
{% endtest %}
