{#- Test of the postcode macros on literal inputs: every row returned is a case where the macro
    disagrees with the expected standard form. -#}
with

us_cases as (

    select cast('98178' as varchar(16)) as raw_value, cast('98178' as varchar(8)) as expected
    union all
    select '98178-1234', '98178'
    union all
    select ' 2134 ', '02134'
    union all
    select '0', cast(null as varchar(8))
    union all
    select cast(null as varchar(16)), cast(null as varchar(8))

),

uk_cases as (

    select cast('po305ab' as varchar(16)) as raw_value, cast('PO30 5AB' as varchar(8)) as expected
    union all
    select ' PO33  2BE ', 'PO33 2BE'
    union all
    select 'lu6 1aa', 'LU6 1AA'
    union all
    select 'SW1A1AA', 'SW1A 1AA'
    union all
    select 'PO3', cast(null as varchar(8))
    union all
    select '', cast(null as varchar(8))

),

checked as (

    select
        'us' as kind,
        raw_value,
        expected,
        {{ standardize_us_postcode('raw_value') }} as actual
    from us_cases
    union all
    select
        'uk' as kind,
        raw_value,
        expected,
        {{ standardize_uk_postcode('raw_value') }} as actual
    from uk_cases

)

select *
from checked
where coalesce(actual, '~') <> coalesce(expected, '~')
