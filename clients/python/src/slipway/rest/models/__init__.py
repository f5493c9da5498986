"""Contains all the data models used in inputs/outputs"""

from .account_view import AccountView
from .action_response import ActionResponse
from .action_result import ActionResult
from .approve_membership import ApproveMembership
from .audit_entry_view import AuditEntryView
from .audit_entry_view_detail import AuditEntryViewDetail
from .balance_point import BalancePoint
from .blueprint_detail import BlueprintDetail
from .blueprint_view import BlueprintView
from .capacity_request_view import CapacityRequestView
from .capacity_response import CapacityResponse
from .capacity_result import CapacityResult
from .capacity_state import CapacityState
from .capacity_summary import CapacitySummary
from .capacity_wait_view import CapacityWaitView
from .cluster_page import ClusterPage
from .cluster_protection import ClusterProtection
from .cluster_state import ClusterState
from .cluster_status import ClusterStatus
from .cluster_status_outputs import ClusterStatusOutputs
from .cluster_token import ClusterToken
from .cluster_visibility import ClusterVisibility
from .cost_bucket_view import CostBucketView
from .cost_bucket_view_by_cluster import CostBucketViewByCluster
from .cost_bucket_view_by_source import CostBucketViewBySource
from .cost_history import CostHistory
from .cost_stats import CostStats
from .create_capacity_request import CreateCapacityRequest
from .create_cluster import CreateCluster
from .create_cluster_variables import CreateClusterVariables
from .create_organization import CreateOrganization
from .create_token import CreateToken
from .created_token import CreatedToken
from .credential_view import CredentialView
from .depletion_view import DepletionView
from .deploy_cluster import DeployCluster
from .deploy_cluster_variables_patch_type_0 import DeployClusterVariablesPatchType0
from .deploy_cluster_variables_type_0 import DeployClusterVariablesType0
from .deployment_action import DeploymentAction
from .deployment_changes import DeploymentChanges
from .deployment_view import DeploymentView
from .deprecate_blueprint import DeprecateBlueprint
from .desired_deployment import DesiredDeployment
from .desired_deployment_variables import DesiredDeploymentVariables
from .destroy_cluster import DestroyCluster
from .device_poll import DevicePoll
from .device_poll_response import DevicePollResponse
from .device_start import DeviceStart
from .device_status import DeviceStatus
from .document_response_200 import DocumentResponse200
from .environment_view import EnvironmentView
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .event import Event
from .event_data_type_0 import EventDataType0
from .event_level import EventLevel
from .event_page import EventPage
from .forecast_series import ForecastSeries
from .forecast_view import ForecastView
from .git_hub_token_login import GitHubTokenLogin
from .health import Health
from .jwks_response_200 import JwksResponse200
from .level import Level
from .limits import Limits
from .membership_view import MembershipView
from .move_latest import MoveLatest
from .node_range import NodeRange
from .operation_kind import OperationKind
from .operation_page import OperationPage
from .operation_state import OperationState
from .operation_summary import OperationSummary
from .operation_view import OperationView
from .organization_view import OrganizationView
from .pause_provisioning import PauseProvisioning
from .promotion_state import PromotionState
from .promotion_view import PromotionView
from .proposal_view import ProposalView
from .provisioning_view import ProvisioningView
from .published_blueprint import PublishedBlueprint
from .rates_view import RatesView
from .read_response_200 import ReadResponse200
from .reason import Reason
from .reconciliation_view import ReconciliationView
from .revocation_list_view import RevocationListView
from .revoke_token import RevokeToken
from .rotated_keys import RotatedKeys
from .run_report import RunReport
from .run_request import RunRequest
from .run_summary import RunSummary
from .run_view import RunView
from .schedule_destroy import ScheduleDestroy
from .secrets_file_body import SecretsFileBody
from .secrets_recipient import SecretsRecipient
from .session import Session
from .setting_change import SettingChange
from .state_version_view import StateVersionView
from .step_outcome import StepOutcome
from .step_result import StepResult
from .token_view import TokenView
from .update_account import UpdateAccount
from .update_limits import UpdateLimits
from .update_organization import UpdateOrganization
from .variable_view import VariableView
from .watch_cluster_response_200 import WatchClusterResponse200
from .who_am_i import WhoAmI
from .write_body import WriteBody
from .write_response_423 import WriteResponse423

__all__ = (
    "AccountView",
    "ActionResponse",
    "ActionResult",
    "ApproveMembership",
    "AuditEntryView",
    "AuditEntryViewDetail",
    "BalancePoint",
    "BlueprintDetail",
    "BlueprintView",
    "CapacityRequestView",
    "CapacityResponse",
    "CapacityResult",
    "CapacityState",
    "CapacitySummary",
    "CapacityWaitView",
    "ClusterPage",
    "ClusterProtection",
    "ClusterState",
    "ClusterStatus",
    "ClusterStatusOutputs",
    "ClusterToken",
    "ClusterVisibility",
    "CostBucketView",
    "CostBucketViewByCluster",
    "CostBucketViewBySource",
    "CostHistory",
    "CostStats",
    "CreateCapacityRequest",
    "CreateCluster",
    "CreateClusterVariables",
    "CreatedToken",
    "CreateOrganization",
    "CreateToken",
    "CredentialView",
    "DepletionView",
    "DeployCluster",
    "DeployClusterVariablesPatchType0",
    "DeployClusterVariablesType0",
    "DeploymentAction",
    "DeploymentChanges",
    "DeploymentView",
    "DeprecateBlueprint",
    "DesiredDeployment",
    "DesiredDeploymentVariables",
    "DestroyCluster",
    "DevicePoll",
    "DevicePollResponse",
    "DeviceStart",
    "DeviceStatus",
    "DocumentResponse200",
    "EnvironmentView",
    "ErrorBody",
    "ErrorDetail",
    "Event",
    "EventDataType0",
    "EventLevel",
    "EventPage",
    "ForecastSeries",
    "ForecastView",
    "GitHubTokenLogin",
    "Health",
    "JwksResponse200",
    "Level",
    "Limits",
    "MembershipView",
    "MoveLatest",
    "NodeRange",
    "OperationKind",
    "OperationPage",
    "OperationState",
    "OperationSummary",
    "OperationView",
    "OrganizationView",
    "PauseProvisioning",
    "PromotionState",
    "PromotionView",
    "ProposalView",
    "ProvisioningView",
    "PublishedBlueprint",
    "RatesView",
    "ReadResponse200",
    "Reason",
    "ReconciliationView",
    "RevocationListView",
    "RevokeToken",
    "RotatedKeys",
    "RunReport",
    "RunRequest",
    "RunSummary",
    "RunView",
    "ScheduleDestroy",
    "SecretsFileBody",
    "SecretsRecipient",
    "Session",
    "SettingChange",
    "StateVersionView",
    "StepOutcome",
    "StepResult",
    "TokenView",
    "UpdateAccount",
    "UpdateLimits",
    "UpdateOrganization",
    "VariableView",
    "WatchClusterResponse200",
    "WhoAmI",
    "WriteBody",
    "WriteResponse423",
)
