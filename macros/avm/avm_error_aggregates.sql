{#- AVM accuracy aggregates, written once for mart_avm_performance and
    mart_avm_performance_by_price_band so the two grains cannot drift.

    Emits the CTEs `evaluated`, `volumes`, `accuracy`, `median_errors` and `performance` (a model
    writes `{{ avm_error_aggregates(...) }},` after its own CTEs and selects from `performance`,
    the figures last, as `{{ avm_error_figures() }}`):
    one row per `group_by` value of `valuations` (the CTE or relation of int_valuations_evaluated
    rows the model names: this macro reads no model itself). `performance` holds the `group_by`
    columns, valuations_count, the `volume_columns` (aggregate expressions with their aliases,
    e.g. 'count(distinct property_id) as properties_count'), and the evaluation figures in their
    contract types: evaluated_count, mdape, ppe10, ppe20, interval_coverage. Valuations without a
    later sale count in valuations_count only; a group without any has evaluated_count 0 and null
    figures. The median is computed in its own aggregation step (numbers.sql: Redshift). -#}
{% macro avm_error_aggregates(valuations, group_by, volume_columns=[]) -%}
evaluated as (

    select * from {{ valuations }}
    where absolute_pct_error is not null

),

volumes as (

    select
        {%- for column in group_by %}
        {{ column }},
        {%- endfor %}
        {%- for column in volume_columns %}
        {{ column }},
        {%- endfor %}
        count(*) as valuations_count
    from {{ valuations }}
    group by {{ group_by | join(', ') }}

),

accuracy as (

    select
        {%- for column in group_by %}
        {{ column }},
        {%- endfor %}
        count(*) as evaluated_count,
        avg(case when absolute_pct_error <= 0.10 then 1.0 else 0.0 end) as ppe10,
        avg(case when absolute_pct_error <= 0.20 then 1.0 else 0.0 end) as ppe20,
        avg(cast(is_covered as numeric(10, 6))) as interval_coverage
    from evaluated
    group by {{ group_by | join(', ') }}

),

median_errors as (

    select
        {%- for column in group_by %}
        {{ column }},
        {%- endfor %}
        {{ median('absolute_pct_error') }} as mdape
    from evaluated
    group by {{ group_by | join(', ') }}

),

performance as (

    select
        volumes.*,
        cast(coalesce(accuracy.evaluated_count, 0) as integer) as evaluated_count,
        cast(median_errors.mdape as numeric(10, 6)) as mdape,
        cast(accuracy.ppe10 as numeric(10, 6)) as ppe10,
        cast(accuracy.ppe20 as numeric(10, 6)) as ppe20,
        cast(accuracy.interval_coverage as numeric(10, 6)) as interval_coverage
    from volumes
    {%- for step in ['accuracy', 'median_errors'] %}
    left join {{ step }}
        on
            {%- for column in group_by %}
            {{ 'and ' if not loop.first }}volumes.{{ column }} = {{ step }}.{{ column }}
            {%- endfor %}
    {%- endfor %}

)
{%- endmacro %}

{#- The evaluation figures of `performance` (avm_error_aggregates), in the marts' column order: the
    last columns of both marts. -#}
{% macro avm_error_figures(relation='performance') -%}
    {%- for figure in ['evaluated_count', 'mdape', 'ppe10', 'ppe20', 'interval_coverage'] -%}
        {{ relation }}.{{ figure }}{% if not loop.last %},
        {% endif %}
    {%- endfor -%}
{%- endmacro %}
