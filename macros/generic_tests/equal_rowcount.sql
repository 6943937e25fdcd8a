{#- Two relations hold the same number of rows (optionally each filtered). -#}
{% test equal_rowcount(model, compare_model, where_model=none, where_compare=none) %}

with

model_rows as (

    select count(*) as n_rows
    from {{ model }}
    {%- if where_model %}
    where {{ where_model }}
    {%- endif %}

),

compare_rows as (

    select count(*) as n_rows
    from {{ compare_model }}
    {%- if where_compare %}
    where {{ where_compare }}
    {%- endif %}

)

select
    model_rows.n_rows as model_rows,
    compare_rows.n_rows as compare_rows
from model_rows
cross join compare_rows
where model_rows.n_rows <> compare_rows.n_rows

{% endtest %}
