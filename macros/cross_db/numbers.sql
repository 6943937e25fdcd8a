{#- Small numeric helpers that read the same on PostgreSQL and Redshift. -#}

{#- Median as an ordered-set aggregate. Redshift requires every sort-based aggregate of one
    SELECT to share its ORDER BY, so compute one median per aggregation step. -#}
{% macro median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{#- numerator / denominator, null when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- First day of the month of a date or timestamp, as a date. -#}
{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{#- A timestamptz as a UTC wall-clock timestamp (event times are stored in UTC). -#}
{% macro to_utc_timestamp(expression) -%}
    cast(({{ expression }}) at time zone 'UTC' as timestamp)
{%- endmacro %}
