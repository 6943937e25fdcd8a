{#- The model holds at least min_rows rows (returns its row count when it does not), e.g. enough
    training rows for the AVM: feat_avm_sales sets min_rows from var('avm_min_training_rows'). -#}
{% test row_count_at_least(model, min_rows) %}

select count(*) as row_count
from {{ model }}
having count(*) < {{ min_rows }}

{% endtest %}
