{#- AVM accuracy per model version and region. Every valuation counts in valuations_count; a
    valuation is evaluated against the property's first arm's-length, non-outlier sale after its
    valuation date (int_valuations_evaluated: a true out-of-sample check): n evaluated, MdAPE
    (median absolute percentage error), PPE10 / PPE20 (share within 10 % / 20 %) and interval
    coverage (share of sale prices inside [lower, upper]). The same figures per price band:
    mart_avm_performance_by_price_band (both from macros/avm/avm_error_aggregates.sql). -#}
with

valuations as (

    select * from {{ ref('int_valuations_evaluated') }}

),

{{ avm_error_aggregates(
    'valuations',
    ['model_name', 'model_version', 'region_id'],
    volume_columns=['count(distinct property_id) as properties_count']
) }},

final as (

    select
        cast(performance.model_name as varchar(64)) as model_name,
        cast(performance.model_version as varchar(32)) as model_version,
        cast(performance.region_id as varchar(8)) as region_id,
        cast(performance.valuations_count as integer) as valuations_count,
        cast(performance.properties_count as integer) as properties_count,
        {{ avm_error_figures('performance') }}
    from performance

)

select * from final
