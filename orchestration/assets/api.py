"""The data API's data version (api/): bumped after the marts are built, so every cached answer
of the previous build stops being served at once; the hot keys are warmed for the next callers."""

import dagster as dg

from orchestration.resources import WarehouseResource

API_DATA_VERSION = dg.AssetKey(["api_meta", "data_version"])
MARTS_READ_BY_THE_API = [dg.AssetKey(["marts", name]) for name in (
    "mart_property_valuations", "dim_properties", "fct_sales", "mart_market_monthly", "fct_price_index_monthly",
    "mart_alerts")]


@dg.asset(
    key=API_DATA_VERSION,
    deps=MARTS_READ_BY_THE_API,
    group_name="api",
    kinds={"redis", "postgres"},
    description="Publishes a new data version for the API (api_meta.data_version and Redis): cache keys carry "
                "it, so the new build is served at once without flushing; then warms the hot keys.",
)
def api_data_version(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    from api.service.version import publish_build

    result = publish_build(warehouse.settings(), {"dagster_run_id": context.run_id})
    context.log.info(f"data version {result['data_version']}; warmed {result['warmed_keys']} keys "
                     f"(cache {result['cache']})")
    return dg.MaterializeResult(metadata=result)
