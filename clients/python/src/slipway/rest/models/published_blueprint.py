from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.blueprint_view import BlueprintView


T = TypeVar("T", bound="PublishedBlueprint")


@_attrs_define
class PublishedBlueprint:
    """`PUT /v1/blueprints/{name}/versions/{version}`: the version as stored.

    Attributes:
        blueprint (BlueprintView): A blueprint version.
        created (bool): False: this very content was published before (nothing changed).
        skipped (list[str]): What the check could not do here, and why (e.g. `terraform validate`
            without the module's providers).
    """

    blueprint: BlueprintView
    created: bool
    skipped: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        blueprint = self.blueprint.to_dict()

        created = self.created

        skipped = self.skipped

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "blueprint": blueprint,
                "created": created,
                "skipped": skipped,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.blueprint_view import BlueprintView

        d = dict(src_dict)
        blueprint = BlueprintView.from_dict(d.pop("blueprint"))

        created = d.pop("created")

        skipped = cast(list[str], d.pop("skipped"))

        published_blueprint = cls(
            blueprint=blueprint,
            created=created,
            skipped=skipped,
        )

        published_blueprint.additional_properties = d
        return published_blueprint

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
