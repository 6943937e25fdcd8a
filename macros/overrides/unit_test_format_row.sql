{#- Project override of dbt's format_row (global project, macros/unit_test_sql/get_fixture_sql.sql,
    dbt-core 1.11), used to build unit-test fixture and expected rows. Identical except for one
    line: dbt casts string fixture values to a length-less `character varying` (GH-11974, so long
    values are not truncated). That cast is Postgres-only test scaffolding, but the offline Redshift
    portability check scans every compiled file under target/compiled, including the fixtures a
    Postgres `dbt build` left there, and rejects a bare varchar. On PostgreSQL `text` avoids both
    truncation and the bare type; other adapters keep dbt's behaviour. -#}
{%- macro format_row(row, column_name_to_data_types) -%}
    {#-- generate case-insensitive formatted row --#}
    {% set formatted_row = {} %}
    {%- for column_name, column_value in row.items() -%}
        {% set column_name = column_name|lower %}

        {%- if column_name not in column_name_to_data_types %}
            {#-- if user-provided row contains column name that relation does not contain, raise an error --#}
            {% set fixture_name = "expected output" if model.resource_type == 'unit_test' else ("'" ~ model.name ~ "'") %}
            {{ exceptions.raise_compiler_error(
                "Invalid column name: '" ~ column_name ~ "' in unit test fixture for " ~ fixture_name ~ "."
                "\nAccepted columns for " ~ fixture_name ~ " are: " ~ (column_name_to_data_types.keys()|list)
            ) }}
        {%- endif -%}

        {%- set column_type = column_name_to_data_types[column_name] %}

        {#-- For string fixture values, drop the varchar length to prevent silent truncation (GH-11974) --#}
        {%- if column_value is string and 'varying' in column_type -%}
            {%- set column_type = 'text' if target.type == 'postgres' else column_type.split('(')[0] -%}
        {%- endif -%}

        {#-- sanitize column_value: wrap yaml strings in quotes, apply cast --#}
        {%- set column_value_clean = column_value -%}
        {%- if column_value is string -%}
            {%- set column_value_clean = dbt.string_literal(dbt.escape_single_quotes(column_value)) -%}
        {%- elif column_value is none -%}
            {%- set column_value_clean = 'null' -%}
        {%- endif -%}

        {%- set row_update = {column_name: safe_cast(column_value_clean, column_type) } -%}
        {%- do formatted_row.update(row_update) -%}
    {%- endfor -%}
    {{ return(formatted_row) }}
{%- endmacro -%}
