{#- Personal data stops in staging: names become a salted, normalised hash (same person, same
    hash, within one warehouse) so joins and related-party checks still work downstream. -#}
{% macro hash_personal(column) -%}
    case
        when nullif(trim({{ column }}), '') is null then null
        else cast({{ dbt.hash("'" ~ var('pii_salt', 'terraminer') ~ ":' || upper(trim(" ~ column ~ "))") }} as varchar(32))
    end
{%- endmacro %}

{#- Family name of a "SURNAME, GIVEN" formatted name (upper-cased), for related-party checks. -#}
{% macro surname(column) -%}
    upper(trim({{ dbt.split_part(column, "','", 1) }}))
{%- endmacro %}
