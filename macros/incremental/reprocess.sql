{#- Re-deriving the rows of past landing days (issue 19, item 3): a run of daily partitions (a
    backfill, or the re-run of one past day) passes the days as vars reprocess_landing_from /
    reprocess_landing_to (YYYY-MM-DD, inclusive; orchestration/assets/dbt.py reads them from the
    run's partition tags; by hand: `dbt build --vars '{reprocess_landing_from: 2024-03-06,
    reprocess_landing_to: 2024-03-06}'`). The first table of the sales path (int_sales_classified)
    then reads every raw row of the files landed on those days again, as if just loaded, and the
    replace_file strategy deletes every row of those files first in it and in fct_sales: exactly
    those days' derived rows are replaced, the rest of the table is not touched. Downstream
    incremental models follow through dbt_updated_at as for any recomputed row.

    The landing day of a file is the /YYYY/MM/DD/ of its key (ingestion.landing.landing_date: the
    date folders right after the contract's prefix); a key without one (the real feeds' files)
    belongs to no day. -#}

{#- The range as (from, to) 'YYYY/MM/DD' texts, or none when the run reprocesses nothing. dbt
    --vars bypass core/dbt_vars.py, so the dates are checked here too. -#}
{% macro reprocess_landing_range() -%}
    {%- set first = var('reprocess_landing_from', none) -%}
    {%- set last = var('reprocess_landing_to', first) -%}
    {%- if first is none or first == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for value in [first, last] -%}
        {%- set text = value | string -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
            {{ exceptions.raise_compiler_error('reprocess_landing_from / reprocess_landing_to must be dates YYYY-MM-DD') }}
        {%- endif -%}
        {%- do days.append(modules.datetime.date(text[:4] | int, text[5:7] | int, text[8:] | int).strftime('%Y/%m/%d')) -%}
    {%- endfor -%}
    {%- if days[1] < days[0] -%}
        {{ exceptions.raise_compiler_error('reprocess_landing_to is before reprocess_landing_from') }}
    {%- endif -%}
    {{ return(days) }}
{%- endmacro %}

{#- SQL: whether the file `file_key` (a column expression) landed within the reprocessed days;
    never null. none when the run reprocesses nothing, so a model adds no predicate at all. -#}
{% macro landed_in_reprocess_range(file_key) -%}
    {%- set days = reprocess_landing_range() -%}
    {%- if days is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return('coalesce(' ~ landing_day_of(file_key) ~ ' between ' ~ string_literal(days[0]) ~ ' and '
              ~ string_literal(days[1]) ~ ', false)') }}
{%- endmacro %}

{#- 'YYYY/MM/DD' of the first /YYYY/MM/DD/ in a key, else null. -#}
{% macro landing_day_of(file_key) -%}
    {{ return(adapter.dispatch('landing_day_of')(file_key)) }}
{%- endmacro %}

{% macro default__landing_day_of(file_key) -%}
    {{ return("substring(" ~ file_key ~ " from '/([0-9]{4}/[0-9]{2}/[0-9]{2})/')") }}
{%- endmacro %}

{% macro redshift__landing_day_of(file_key) -%}
    {{ return("nullif(regexp_substr(" ~ file_key ~ ", '/([0-9]{4}/[0-9]{2}/[0-9]{2})/', 1, 1, 'e'), '')") }}
{%- endmacro %}
