{#- A SQL string literal for a data value, escaped by the engine's own rules (docs/ARCHITECTURE.md
    §9): the only way a macro may put a value into SQL text when it cannot bind it or join to it.

    - PostgreSQL (standard_conforming_strings on, the default since 9.1): a quote is doubled and a
      backslash is an ordinary character; an `E'…'` literal is never produced.
    - Redshift: a backslash in a literal is an escape character, so it is doubled as well as the
      quote (`\'` must not end the literal).

    Values with a NUL character are refused (no engine stores them in text). -#}
{% macro string_literal(value) -%}
    {%- set text = value | string -%}
    {%- if '\x00' in text -%}
        {{ exceptions.raise_compiler_error("refusing a value with a NUL character in a SQL literal") }}
    {%- endif -%}
    {{ return(adapter.dispatch('string_literal')(text)) }}
{%- endmacro %}

{% macro default__string_literal(text) -%}
    {{ return("'" ~ text.replace("'", "''") ~ "'") }}
{%- endmacro %}

{% macro redshift__string_literal(text) -%}
    {{ return("'" ~ text.replace("\\", "\\\\").replace("'", "''") ~ "'") }}
{%- endmacro %}
