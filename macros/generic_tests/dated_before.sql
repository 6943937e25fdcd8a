{#- Leakage guard for feature tables: the information date in column_name (the newest fact a
    feature used) is strictly before the row's event date (the sale or valuation date).
    Null means "no information used" and passes. Returns the offending rows. -#}
{% test dated_before(model, column_name, event_column) %}

select *
from {{ model }}
where {{ column_name }} >= {{ event_column }}

{% endtest %}
