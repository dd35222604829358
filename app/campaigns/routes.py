from flask.views import MethodView

from app.api import Blueprint
from app.auth.current import current_user
from app.auth.decorators import login_required
from app.campaigns import services
from app.campaigns.schemas import CampaignCreateSchema, CampaignListArgsSchema, CampaignSchema
from app.common.schemas import page_of

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1", description="活动")


@blp.route("/campaigns")
class Campaigns(MethodView):
    @login_required
    @blp.arguments(CampaignCreateSchema)
    @blp.response(201, CampaignSchema)
    @blp.alt_response(403, description="forbidden: school admins and region admins only")
    @blp.alt_response(404, description="org_not_found")
    @blp.alt_response(422, description="validation_error or invalid_org_kind")
    def post(self, body):
        """Create a campaign for a school or region you administer"""
        return services.create_campaign(current_user, body)

    @login_required
    @blp.arguments(CampaignListArgsSchema, location="query")
    @blp.response(200, page_of(CampaignSchema))
    def get(self, args):
        """The campaigns you can see, newest first"""
        return services.list_campaigns(current_user, args["page"], args["page_size"], args.get("status"))


@blp.route("/campaigns/<int:campaign_id>")
class CampaignDetail(MethodView):
    @login_required
    @blp.response(200, CampaignSchema)
    @blp.alt_response(404, description="campaign_not_found")
    def get(self, campaign_id):
        """One campaign you can see"""
        return services.get_campaign(current_user, campaign_id)
