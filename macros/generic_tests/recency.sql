{#- The newest value of a timestamp column is no older than `interval` `datepart`s. -#}
{% test recency(model, field, datepart, interval) %}

with

newest as (

    select max({{ field }}) as most_recent
    from {{ model }}

)

select most_recent
from newest
where
    most_recent is null
    or most_recent < {{ dbt.dateadd(datepart, -1 * interval, dbt.current_timestamp()) }}

{% endtest %}
