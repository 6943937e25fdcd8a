{#- The model holds at least one row. -#}
{% test not_empty(model) %}

select 'model is empty' as failure
where not exists (select 1 from {{ model }})

{% endtest %}
