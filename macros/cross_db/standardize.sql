{#- Cross-database text standardisation used by staging. Regular expressions use POSIX classes
    that PostgreSQL and Redshift both understand; only the "replace all" flag differs. -#}

{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'terraminer')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- Redshift's regexp_replace replaces every match; its 4th argument is a position, not flags. -#}
{% macro redshift__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{#- Upper case, trimmed, runs of whitespace collapsed to one space; empty becomes null. -#}
{% macro standardize_address(expression) -%}
    nullif(upper(trim({{ regexp_replace_all(expression, '[[:space:]]+', ' ') }})), '')
{%- endmacro %}

{#- US ZIP code: the first five digits (ZIP+4 and stray characters dropped); four digits get the
    leading zero a numeric export lost back; anything shorter is unusable and becomes null. -#}
{% macro standardize_us_postcode(expression) -%}
    {%- set digits = regexp_replace_all(expression, '[^0-9]', '') -%}
    case
        when length({{ digits }}) >= 5 then left({{ digits }}, 5)
        when length({{ digits }}) = 4 then '0' || {{ digits }}
    end
{%- endmacro %}

{#- UK postcode: upper case with exactly one space before the three-character inward code;
    values that cannot be a postcode (fewer than 5 or more than 7 characters) become null. -#}
{% macro standardize_uk_postcode(expression) -%}
    {%- set compact = 'upper(' ~ regexp_replace_all(expression, '[^A-Za-z0-9]', '') ~ ')' -%}
    case
        when length({{ compact }}) between 5 and 7
            then left({{ compact }}, length({{ compact }}) - 3) || ' ' || right({{ compact }}, 3)
    end
{%- endmacro %}
