{#- The synthetic arm's-length rule on the whole fact (the unit test covers single rows):
    quitclaim and trustee deeds and related-party transfers are never arm's-length, and warranty
    or grant deeds between unrelated parties at a real price always are. -#}
select
    sale_id,
    transfer_code,
    is_related_party,
    sale_price,
    is_arms_length
from {{ ref('fct_sales') }}
where
    source_system = 'synthetic'
    and (
        (transfer_code in ('QCD', 'TRD') and is_arms_length)
        or (is_related_party and is_arms_length)
        or (
            transfer_code in ('WD', 'GD')
            and not is_related_party
            and sale_price >= {{ var('nominal_price_threshold') }}
            and not is_arms_length
        )
    )
