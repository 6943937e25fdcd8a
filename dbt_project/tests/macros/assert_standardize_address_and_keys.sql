{#- Test of standardize_address (upper case, trimmed, single spaces, empty is null) and
    surrogate_key (deterministic, null-aware) on literal inputs. -#}
with

address_cases as (

    select cast('  4455   park avenue ' as varchar(64)) as raw_value, cast('4455 PARK AVENUE' as varchar(64)) as expected
    union all
    select 'flat 3	rose court', 'FLAT 3 ROSE COURT'
    union all
    select '   ', cast(null as varchar(64))

),

address_failures as (

    select
        raw_value,
        expected,
        {{ standardize_address('raw_value') }} as actual
    from address_cases

),

key_cases as (

    select
        cast('a' as varchar(8)) as first_part,
        cast(null as varchar(8)) as second_part,
        cast(null as varchar(8)) as third_part,
        cast('a' as varchar(8)) as fourth_part

),

key_failures as (

    select
        {{ surrogate_key(['first_part', 'second_part']) }} as first_key,
        {{ surrogate_key(['third_part', 'fourth_part']) }} as second_key,
        {{ surrogate_key(['first_part', 'second_part']) }} as repeated_key
    from key_cases

),

failures as (

    select 'address: ' || raw_value as failure
    from address_failures
    where coalesce(actual, '~') <> coalesce(expected, '~')
    union all
    select 'surrogate_key collides on swapped nulls' as failure
    from key_failures
    where first_key = second_key
    union all
    select 'surrogate_key is not deterministic' as failure
    from key_failures
    where first_key <> repeated_key or length(first_key) <> 32

)

select * from failures
