{#- Within each partition, [lower, upper) ranges do not overlap and only the last may be open
    (upper null). Ranges are ordered by their lower bound. -#}
{% test mutually_exclusive_ranges(model, lower_bound_column, upper_bound_column, partition_by) %}

with

ordered as (

    select
        {{ partition_by }} as partition_key,
        {{ lower_bound_column }} as lower_bound,
        {{ upper_bound_column }} as upper_bound,
        lead({{ lower_bound_column }}) over (
            partition by {{ partition_by }}
            order by {{ lower_bound_column }}
        ) as next_lower_bound
    from {{ model }}

)

select *
from ordered
where
    (upper_bound is not null and upper_bound < lower_bound)
    or (next_lower_bound is not null and upper_bound is null)
    or (next_lower_bound is not null and upper_bound > next_lower_bound)

{% endtest %}
