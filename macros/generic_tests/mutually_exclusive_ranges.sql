{#- Within each partition, [lower, upper) ranges do not overlap and only the last may be open
    (upper null). Ranges are ordered by their lower bound. On an incremental build
    (macros/test_scope/test_scope.sql) it checks the partitions that hold rows loaded since the test last
    passed, each whole. -#}
{% test mutually_exclusive_ranges(model, lower_bound_column, upper_bound_column, partition_by) %}
{%- set tested = test_scope_tested_node() -%}
{%- set scope = test_scope_node_predicate(tested) if tested is not none and not config.get('where') else none -%}
with

{%- if scope %}
new_partitions as (
    select distinct {{ partition_by }} as partition_key
    from {{ tested.relation_name }}
    where {{ scope }}
),
{%- endif %}

ordered as (
    select
        {{ partition_by }} as partition_key,
        {{ lower_bound_column }} as lower_bound,
        {{ upper_bound_column }} as upper_bound,
        lead({{ lower_bound_column }}) over (
            partition by {{ partition_by }}
            order by {{ lower_bound_column }}
        ) as next_lower_bound
    from {{ tested.relation_name if scope else model }}
    {%- if scope %}
    where {{ partition_by }} in (select partition_key from new_partitions)
    {%- endif %}
)

select *
from ordered
where
    (upper_bound is not null and upper_bound < lower_bound)
    or (next_lower_bound is not null and upper_bound is null)
    or (next_lower_bound is not null and upper_bound > next_lower_bound)
{% endtest %}
