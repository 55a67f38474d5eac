"""Rule recognizers (qa.recognizers.rules) and their registry.

Tables of (text, expected) per tag: positives in many paraphrases, the hard
negatives of LABELS.md, traditional and full-width input, ASR-like text
without punctuation, speaker scoping, evidence spans, and the failure modes
of the registry and of malformed rule files.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.config import load_config
from qa.recognizers import registry
from qa.recognizers.rules import RULES_DIR, RuleFileError, RuleRecognizer, load_rule_file
from qa.text.tokenize import prepare
from qa.types import AUX_TAGS, TAG_SPEAKER, TAGS, Hit, Speaker

RULE_TAGS = TAGS + AUX_TAGS


def hits(tag: str, text: str, speaker: Speaker | None = None, turn: int = 0) -> list[Hit]:
    """Hits of the ``tag`` recognizer on one turn (spoken by the tag's speaker unless given)."""
    rec = registry.get(f"lexicon:{tag}.v1")
    prepared = prepare("C1", turn, speaker or TAG_SPEAKER[tag], text)
    return rec.recognize([prepared])[0]


def evidence(tag: str, text: str, speaker: Speaker | None = None) -> list[str]:
    return [h.evidence for h in hits(tag, text, speaker)]


# --------------------------------------------------------------------------- positives

POSITIVES: list[tuple[str, str]] = [
    # apology
    ("apology", "非常抱歉让您久等了"),
    ("apology", "真的非常抱歉给您带来不便"),
    ("apology", "对不起，这是我们的疏忽"),
    ("apology", "给您添麻烦了"),
    ("apology", "让您久等了，不好意思"),
    ("apology", "实在过意不去"),
    ("apology", "是我们这边没做好"),
    ("apology", "真是不好意思让您跑了两趟"),
    ("apology", "对此我们深表歉意"),
    ("apology", "我代表公司向您道歉"),
    ("apology", "是我们的失误"),
    ("apology", "耽误您的时间了"),
    ("apology", "抱歉，给您造成了困扰"),
    ("apology", "这次的事情还请您多多包涵"),
    ("apology", "sorry啊，让您着急了"),
    # blame
    ("blame", "是您自己没看清楚"),
    ("blame", "谁让您不早说"),
    ("blame", "这么简单都不会"),
    ("blame", "您应该知足了"),
    ("blame", "我已经说过很多遍了"),
    ("blame", "这不归我们管，您找快递去"),
    ("blame", "您可真会挑时候"),
    ("blame", "跟我说也没用"),
    ("blame", "自己不会看吗"),
    ("blame", "规定就是这样，您爱怎么样怎么样"),
    ("blame", "这是您的问题，跟我们没关系"),
    ("blame", "我不是跟您说了吗"),
    ("blame", "您刚才已经问过了啊。"),
    ("blame", "这个您之前不是问过了吗？"),
    ("blame", "您都问过好几遍了"),
    ("blame", "请说清楚您的问题。"),
    ("blame", "麻烦你说清楚点，到底要办什么"),
    ("blame", "您怎么还听不懂啊"),
    ("blame", "您急什么"),
    ("blame", "您早干嘛去了"),
    ("blame", "您要投诉就投诉吧"),
    ("blame", "您这是无理取闹"),
    ("blame", "这事跟我们没有关系"),
    ("blame", "您自己把地址填错了"),
    ("blame", "这个不属于我们的业务范围"),
    # stalling
    ("stalling", "我帮您反馈一下，二十四小时内回电"),
    ("stalling", "我们会尽快处理"),
    ("stalling", "请您耐心等待"),
    ("stalling", "有结果会通知您"),
    ("stalling", "24小时内会有专人联系您"),
    ("stalling", "三到五个工作日内处理完毕"),
    ("stalling", "3-5个工作日给您答复"),
    ("stalling", "我们会在48h内给您回复"),
    ("stalling", "一到两个工作日内给您回电"),
    ("stalling", "等上面批下来再说"),
    ("stalling", "您等通知就行"),
    ("stalling", "这边帮您上报一下"),
    ("stalling", "我帮您转给相关部门处理"),
    ("stalling", "我这边帮您登记一下您的诉求"),
    ("stalling", "稍后会有工作人员给您回电"),
    ("stalling", "您过两天再打来问问"),
    ("stalling", "我们只能帮您记录一下"),
    ("stalling", "3到7个工作日"),
    ("stalling", "有进展会第一时间通知您"),
    # thanks
    ("thanks", "感谢您的来电"),
    ("thanks", "谢谢您的耐心等待"),
    ("thanks", "非常感谢您的理解和支持"),
    ("thanks", "好的，谢谢"),
    ("thanks", "辛苦您了"),
    ("thanks", "感谢您的反馈，祝您生活愉快，再见"),
    ("thanks", "多谢您的配合"),
    # empathy
    ("empathy", "我理解您的心情"),
    ("empathy", "换作是我也会着急"),
    ("empathy", "我能体会"),
    ("empathy", "您的心情我非常理解"),
    ("empathy", "我非常理解您"),
    ("empathy", "遇到这种情况确实挺让人着急的"),
    ("empathy", "您一定很着急吧"),
    ("empathy", "我知道您现在很生气"),
    ("empathy", "谁遇到这种事都会生气"),
    ("empathy", "我能体会到您的不容易"),
    ("empathy", "我们完全能感受到您的焦急"),
    ("empathy", "我理解，但是这个确实需要审核"),
    ("empathy", "站在您的角度确实不方便"),
    # solution
    ("solution", "已经给您退款了，两小时内到账"),
    ("solution", "系统显示地址是旧的，我现在帮您改"),
    ("solution", "您看是退款还是换货"),
    ("solution", "我马上给您补发一个新的"),
    ("solution", "我这边给您申请一张二十元的优惠券作为补偿"),
    ("solution", "安排师傅明天上午上门维修"),
    ("solution", "钱会原路退回到您的账户"),
    ("solution", "可以给您申请换货"),
    ("solution", "给您补偿20个积分"),
    ("solution", "我给您免掉这笔运费"),
    ("solution", "我这边直接给您重新发货"),
    ("solution", "我这边给您登记一个上门维修"),
    ("solution", "您可以选择退货退款或者换一个新的"),
    ("solution", "这个费用我们给您退回去"),
    ("solution", "我帮您把收货地址修改一下"),
    ("solution", "退款已经给您办好了"),
    # upsell
    ("upsell", "我们现在有个新套餐，推荐您办理一下"),
    ("upsell", "建议您升级到5G套餐，每月只要多加10块钱"),
    ("upsell", "现在办理有优惠"),
    ("upsell", "您可以考虑开通我们的会员"),
    ("upsell", "要不要了解一下我们的新套餐"),
    ("upsell", "我给您推荐一款适合您的套餐"),
    ("upsell", "再加五块钱就可以升级成千兆宽带"),
    ("upsell", "正好我们这个月有一个优惠活动"),
    ("upsell", "您有没有兴趣办一张我们的信用卡"),
    # complaint
    ("complaint", "怎么还没到"),
    ("complaint", "东西用了三天就坏了"),
    ("complaint", "你们扣了我两次钱"),
    ("complaint", "太差了"),
    ("complaint", "你们怎么回事"),
    ("complaint", "你们每次都说反馈"),
    ("complaint", "等了三天了"),
    ("complaint", "太慢了，我要投诉"),
    ("complaint", "我上周买的冰箱到现在还没送到"),
    ("complaint", "打了好几次电话都没人接"),
    ("complaint", "骑手态度特别差，还骂人"),
    ("complaint", "外卖送到的时候汤都洒了"),
    ("complaint", "我没有开通这个业务，你们凭什么扣费"),
    ("complaint", "上次你们说三天之内给我回电，到现在也没人打给我"),
    ("complaint", "宽带老是掉线"),
    ("complaint", "这个月话费怎么这么多"),
    ("complaint", "你们这是什么破服务"),
    ("complaint", "发过来的颜色不对"),
    ("complaint", "你们就会说反馈反馈"),
    ("complaint", "他说“我们会尽快处理”，然后就没下文了"),
    ("complaint", "说好的今天到呢"),
    ("complaint", "你们推来推去的到底谁负责"),
    ("complaint", "我对你们的处理结果很不满意"),
    ("complaint", "我家停电了"),
    # escalation
    ("escalation", "找你们领导来"),
    ("escalation", "我要投诉你"),
    ("escalation", "我要打12315"),
    ("escalation", "我去消协告你们"),
    ("escalation", "我要找媒体曝光你们"),
    ("escalation", "我要给你们差评"),
    ("escalation", "不解决我就去法院起诉你们"),
    ("escalation", "我要销户"),
    ("escalation", "叫你们经理出来跟我说"),
    ("escalation", "你们主管呢"),
    ("escalation", "我要找律师"),
    ("escalation", "我要携号转网"),
    ("escalation", "以后再也不在你们家买了"),
    ("escalation", "不退就投诉"),
    # admission
    ("admission", "是我们的失误"),
    ("admission", "我们这边搞错了"),
    ("admission", "是我们发错货了"),
    ("admission", "系统出了问题"),
    ("admission", "确实是我们仓库发错了"),
    ("admission", "我们多扣了您一次费用"),
    ("admission", "由于系统故障，导致您的订单没有发出"),
    ("admission", "是我们这边没有及时处理"),
    ("admission", "责任在我们"),
]


@pytest.mark.parametrize("tag, text", POSITIVES)
def test_positive(tag: str, text: str) -> None:
    assert hits(tag, text), f"{tag} missed: {text}"


# --------------------------------------------------------------------------- hard negatives

NEGATIVES: list[tuple[str, str]] = [
    ("blame", "您之前咨询过的那个问题我已经查到了"),
    ("blame", "您没问过这个，我来给您介绍一下"),
    ("blame", "不好意思信号不太好，麻烦您说清楚一点"),
    ("blame", "我再跟您说清楚一点，这个套餐是按月扣费的"),
    # apology: openers owning nothing, "don't apologise", policy about apologies
    ("apology", "不好意思，请问您贵姓"),
    ("apology", "不好意思请问您的订单号是多少"),
    ("apology", "不好意思，我刚才没听清"),
    ("apology", "别说对不起"),
    ("apology", "您不用道歉"),
    ("apology", "您不用跟我道歉，没关系"),
    ("apology", "我们规定客服要说对不起"),
    ("apology", "按照公司要求我们要给客户道歉"),
    ("apology", "这不是我们的问题"),
    ("apology", "您是要我们道歉是吗"),
    ("apology", "好的，我帮您查一下"),
    # blame: denials, neutral fact + help
    ("blame", "这不是您的问题"),
    ("blame", "这不是您的错"),
    ("blame", "您没有做错"),
    ("blame", "也不能说是您的问题"),
    ("blame", "不怪您"),
    ("blame", "系统显示地址是旧的，我现在帮您改"),
    ("blame", "您地址填错了，我现在帮您改一下"),
    ("blame", "不是您没看清楚，是我们页面写得不清楚"),
    ("blame", "您的问题我已经记录了"),
    ("blame", "您叫什么名字"),
    ("blame", "我也没办法直接退，但是我可以帮您申请补偿"),
    ("blame", "这个需要您提供一下身份证号"),
    # stalling: completed actions, immediate transfers, named owner + time, negated
    ("stalling", "已经给您退款了，两小时内到账"),
    ("stalling", "已经给您退款了，3到7个工作日原路退回"),
    ("stalling", "我现在帮您转接"),
    ("stalling", "我马上给您转到技术部门"),
    ("stalling", "我现在把电话转给专门的同事"),
    ("stalling", "我帮您把电话转到相关部门"),
    ("stalling", "我今天下午三点前亲自给您回电"),
    ("stalling", "我们没有说过要给您回电"),
    ("stalling", "您不用等了，我马上给您退款"),
    ("stalling", "这个不需要反馈给后台，我直接给您处理"),
    ("stalling", "我帮您提交退款申请"),
    ("stalling", "感谢您的耐心等待"),
    ("stalling", "那我等您的消息"),
    ("stalling", "请稍等，我帮您查一下"),
    ("stalling", "请您耐心等一下，我马上帮您查"),
    ("stalling", "我帮您登记一下，然后师傅明天上午上门"),
    ("stalling", "退款一般是三到五个工作日原路退回"),
    ("stalling", "您方便的话我们稍后再联系您确认一下安装时间"),
    ("stalling", "之前的同事说二十四小时内给您回电是吗"),
    # thanks
    ("thanks", "不用谢"),
    ("thanks", "不客气"),
    ("thanks", "您不用感谢我"),
    ("thanks", "麻烦您提供一下订单号"),
    # empathy: empty agreement, comprehension, asking for understanding
    ("empathy", "嗯嗯 好的"),
    ("empathy", "我理解您的意思是要退货对吧"),
    ("empathy", "请您理解"),
    ("empathy", "希望您能理解"),
    ("empathy", "感谢您的理解"),
    ("empathy", "我明白了"),
    ("empathy", "我不理解您为什么这么说"),
    # solution: look into it, refusals, feedback
    ("solution", "我帮您查一下"),
    ("solution", "我帮您看一下"),
    ("solution", "我帮您核实一下"),
    ("solution", "我帮您反馈一下"),
    ("solution", "不是不想给您退，是系统不允许"),
    ("solution", "我们没有办法给您退款"),
    ("solution", "我看看能不能给您退款"),
    ("solution", "这个退不了"),
    ("solution", "需要您自己在APP上申请退款"),
    ("solution", "退款一般是三到五个工作日到账"),
    # upsell: explaining the product the customer has, cancelling, compensation
    ("upsell", "您现在的套餐包含20G流量"),
    ("upsell", "您办理的套餐每月38元"),
    ("upsell", "您开通会员的时候选的是自动续费"),
    ("upsell", "您的会员已经到期了"),
    ("upsell", "我帮您退订这个套餐"),
    ("upsell", "给您开通会员作为补偿"),
    ("upsell", "推荐您使用我们的APP查询物流"),
    # complaint: plain questions, neutral past complaint
    ("complaint", "这个怎么用"),
    ("complaint", "请问怎么退货"),
    ("complaint", "我想问一下怎么还款"),
    ("complaint", "我想问一下我的快递到哪了"),
    ("complaint", "我有个问题想咨询一下"),
    ("complaint", "没有问题了谢谢"),
    ("complaint", "我上个月投诉过一次，后来解决了，这次是想问一下套餐的事"),
    ("complaint", "我没生气，就是问问"),
    ("complaint", "好的谢谢"),
    ("complaint", "嗯 我的订单号是123"),
    ("complaint", "真的假的"),
    ("complaint", "这两个套餐有什么不一样"),
    # escalation: neutral past complaints, reported, negated, look-alikes
    ("escalation", "我上个月投诉过一次，后来解决了，这次是想问一下套餐的事"),
    ("escalation", "我不想投诉你们，只是想解决问题"),
    ("escalation", "我不是来投诉的"),
    ("escalation", "我的订单号是12315678"),
    ("escalation", "客服让我去12315投诉"),
    ("escalation", "我们领导让我来办这个业务"),
    ("escalation", "帮我转人工"),
    ("escalation", "我用的是工商银行的卡"),
    ("escalation", "我没给差评啊"),
    # admission: denial, hypothetical, restating, data facts
    ("admission", "不是我们的问题"),
    ("admission", "如果系统有问题我们会通知您"),
    ("admission", "您说是我们发错了是吗"),
    ("admission", "系统显示地址是旧的，我现在帮您改"),
    ("admission", "系统没有问题"),
]


@pytest.mark.parametrize("tag, text", NEGATIVES)
def test_hard_negative(tag: str, text: str) -> None:
    assert evidence(tag, text) == []


# More paraphrases and look-alikes per tag: (tag, text, fires).
PARAPHRASES: list[tuple[str, str, bool]] = [
    ("admission", "这个是我们录入的时候出了错", True),
    ("admission", "确实是我们的快递员送错了", True),
    ("admission", "是我们这边的系统出了故障", True),
    ("admission", "这个单子我们漏发了", True),
    ("admission", "是我们这边工作人员的失误", True),
    ("admission", "我们这边发货的时候拿错了", True),
    ("admission", "经过核实，不是我们的原因", False),
    ("admission", "我们这边查了一下，系统没问题", False),
    ("admission", "这个不是我们这边的原因，是快递的问题", False),
    ("apology", "这件事确实是我们做得不好，向您赔个不是", True),
    ("apology", "抱歉啊让您白跑一趟", True),
    ("apology", "很抱歉这次的体验不好", True),
    ("apology", "对于给您造成的损失，我们非常抱歉", True),
    ("apology", "真的很不好意思，这次是我们的问题", True),
    ("apology", "给您带来了不好的体验，实在抱歉", True),
    ("apology", "我替同事跟您说声对不起", True),
    ("apology", "让您费心了，真不好意思", True),
    ("apology", "这事儿是我们处理得不及时，对不住了", True),
    ("apology", "哎呀真是抱歉这个是我们没注意到", True),
    ("apology", "实在是对不起您了", True),
    ("apology", "这个确实是我们的问题，给您道个歉", True),
    ("apology", "很遗憾给您带来这样的困扰", True),
    ("apology", "让您久等了", True),
    ("apology", "抱歉让您多跑了一趟", True),
    ("apology", "嗯那个确实是我们这边的失误真的很抱歉啊", True),
    ("apology", "给您添了这么多麻烦真的过意不去", True),
    ("apology", "给您带来的不便敬请谅解，非常抱歉", True),
    ("apology", "对不起啊，是我刚才没说清楚", True),
    ("apology", "不好意思打扰您一下，这边是某某快递的回访", False),
    ("apology", "您好，不好意思，麻烦您稍等一下", False),
    ("apology", "没事没事，您不用说对不起", False),
    ("apology", "您刚才说对不起干嘛呀，没关系的", False),
    ("apology", "好的 您稍等 我看一下", False),
    ("apology", "您好，请问有什么可以帮您", False),
    ("apology", "不好意思，您能再说一遍吗", False),
    ("apology", "这个您放心，不会有问题的", False),
    ("apology", "您别这么说，不用跟我们道歉", False),
    ("apology", "不好意思，请问您是机主本人吗", False),
    ("apology", "不好意思，打扰一下，这边想跟您核对一下地址", False),
    ("apology", "没关系，您不用觉得抱歉", False),
    ("blame", "您自己下单的时候怎么不看清楚呢", True),
    ("blame", "这个是您操作的问题", True),
    ("blame", "我们的规定写得很清楚，您自己不看怪谁", True),
    ("blame", "您这个要求太无理了", True),
    ("blame", "您去找快递公司吧，这个跟我们没关系", True),
    ("blame", "我都说了三遍了您还问", True),
    ("blame", "您能不能听我把话说完", True),
    ("blame", "您这样闹也没用", True),
    ("blame", "您问我，我问谁去", True),
    ("blame", "这种问题您都不知道吗", True),
    ("blame", "你自己看不懂说明书还来问我们", True),
    ("blame", "我们页面上写得清清楚楚，是您自己没注意", True),
    ("blame", "您当时为什么不问清楚再下单", True),
    ("blame", "这个不是我们的责任，您找商家吧", True),
    ("blame", "您爱找谁找谁", True),
    ("blame", "都说了不行不行您还要问", True),
    ("blame", "您到底想怎么样", True),
    ("blame", "您这个问题说了多少次了还在问", True),
    ("blame", "这个您应该自己提前查好的", True),
    ("blame", "我们又不是神仙，哪知道快递什么时候到", True),
    ("blame", "您的手机号填错了", True),
    ("blame", "您连这个都搞不清楚吗", True),
    ("blame", "这都是您自己造成的", True),
    ("blame", "没办法，这就是规定，您不接受也得接受", True),
    ("blame", "这个确实不是您的原因", False),
    ("blame", "您放心，这个不是您操作的问题", False),
    ("blame", "根据系统记录，您的订单地址是旧地址，我这就帮您更新", False),
    ("blame", "您说的我都记下来了", False),
    ("blame", "是这样的，系统显示您的账户余额不足，我帮您查一下原因", False),
    ("blame", "这个情况呢，其实不是您的问题，是物流那边延误了", False),
    ("blame", "您不用自责，很多客户都会遇到这种情况", False),
    ("blame", "我再给您解释一下这个流程", False),
    ("blame", "麻烦您确认一下地址是否正确", False),
    ("blame", "您别担心，这不是您的责任", False),
    ("blame", "这个跟您没关系，是我们系统的问题", False),
    ("blame", "不是您操作有误，是页面有bug", False),
    ("blame", "您的操作没有问题", False),
    ("blame", "系统显示您的收货地址还是旧地址，我这就帮您修改", False),
    ("blame", "您填的手机号少了一位，我帮您更正一下", False),
    ("complaint", "我这个手机才买一个星期屏幕就裂了", True),
    ("complaint", "你们的快递员把我的包裹弄丢了", True),
    ("complaint", "这都第三次了还是没修好", True),
    ("complaint", "我的钱到现在都没退回来", True),
    ("complaint", "你们这服务真的让人很失望", True),
    ("complaint", "我都等了一个多小时了饭还没到", True),
    ("complaint", "你们的APP老是闪退", True),
    ("complaint", "这不是坑人吗", True),
    ("complaint", "充了一百块话费一直没到账", True),
    ("complaint", "你们客服态度也太差了吧", True),
    ("complaint", "每次打电话都说给我反馈，结果一点用都没有", True),
    ("complaint", "送来的菜是凉的", True),
    ("complaint", "我的包裹丢了", True),
    ("complaint", "收到的衣服有个洞", True),
    ("complaint", "你们这个东西根本就不能用", True),
    ("complaint", "我已经打了三次电话了，还是没人给我解决", True),
    ("complaint", "你们是不是在忽悠我", True),
    ("complaint", "我买的东西跟图片上完全不一样", True),
    ("complaint", "凭什么不给我退", True),
    ("complaint", "网速太慢了，根本看不了视频", True),
    ("complaint", "你们的快递员态度太差了", True),
    ("complaint", "明明说好三天到，现在都一个星期了", True),
    ("complaint", "这都什么事啊", True),
    ("complaint", "这已经是第二次出现这个问题了", True),
    ("complaint", "喂你好我那个宽带从昨天晚上开始就一直连不上你们到底什么时候能修好", True),
    ("complaint", "我上个礼拜在你们这买的空调装好第二天就不制冷了", True),
    ("complaint", "你们这个快递怎么回事啊都五天了还显示在路上", True),
    ("complaint", "我就想问问为什么我的退款审核了半个月还没通过", True),
    ("complaint", "你们那个师傅约好了上午来结果到下午都没来", True),
    ("complaint", "我这个月的流量明明没用多少怎么就超了", True),
    ("complaint", "我都说了好几遍了你们到底有没有在听", True),
    ("complaint", "我订的是大床房结果给我安排的双床", True),
    ("complaint", "这个充电宝买回来就充不进去电", True),
    ("complaint", "你们的系统太烂了每次都登不上去", True),
    ("complaint", "我被你们的客服挂了三次电话", True),
    ("complaint", "这个月的电费比上个月多了一倍，肯定有问题", True),
    ("complaint", "我这个订单加急了也没用，还是没发", True),
    ("complaint", "你们的售后根本就是摆设", True),
    ("complaint", "这么小的事情都处理不好", True),
    ("complaint", "你好，我想咨询一下宽带怎么续费", False),
    ("complaint", "请问这个优惠券怎么使用", False),
    ("complaint", "我想改一下收货地址", False),
    ("complaint", "好的，那我等你们的消息", False),
    ("complaint", "你们营业厅几点关门", False),
    ("complaint", "你好，我想查一下话费余额", False),
    ("complaint", "好的，麻烦你帮我查一下", False),
    ("complaint", "请问我的退款什么时候到账", False),
    ("complaint", "我想办一张信用卡", False),
    ("complaint", "那我明天再打过来吧", False),
    ("complaint", "嗯，是的，地址是北京市海淀区", False),
    ("complaint", "我想问一下怎么把积分兑换成话费", False),
    ("complaint", "嗯对就是那个订单", False),
    ("complaint", "你们那个新出的套餐能介绍一下吗", False),
    ("complaint", "我想预约一下明天的上门安装", False),
    ("complaint", "帮我看一下这个月还剩多少流量", False),
    ("complaint", "请问你们这个手机支持5G吗", False),
    ("complaint", "我想了解一下你们的售后政策", False),
    ("complaint", "我这个订单能不能加急", False),
    ("complaint", "嗯那你帮我查一下吧", False),
    ("complaint", "我是想问下次购买能不能用优惠券", False),
    ("empathy", "我知道这种情况换谁都会不舒服", True),
    ("empathy", "确实，等了这么久肯定很着急", True),
    ("empathy", "您的感受我完全可以理解", True),
    ("empathy", "我特别能理解您现在的处境", True),
    ("empathy", "这种情况谁碰上都会不高兴的", True),
    ("empathy", "我非常能理解您现在的感受", True),
    ("empathy", "确实挺麻烦的，让您受累了", True),
    ("empathy", "嗯嗯我知道您现在心里肯定特别着急", True),
    ("empathy", "大热天的没空调确实挺难受的", True),
    ("empathy", "我理解了，您是想改地址是吧", False),
    ("empathy", "我明白您的意思了", False),
    ("empathy", "您说的我明白", False),
    ("empathy", "好的好的 嗯", False),
    ("escalation", "我要投诉到你们总部", True),
    ("escalation", "你们不给我解决，我就去工商局", True),
    ("escalation", "你让你们负责人给我回电话", True),
    ("escalation", "我要在网上曝光你们", True),
    ("escalation", "我要把你们告上法庭", True),
    ("escalation", "你叫什么名字，工号多少，我要投诉你", True),
    ("escalation", "这个宽带我不要了，给我退掉", True),
    ("escalation", "我要求你们主管给我打电话", True),
    ("escalation", "你们再这样我就去市场监管局投诉", True),
    ("escalation", "我要在微博上发出来让大家都看看", True),
    ("escalation", "我会通过法律途径解决", True),
    ("escalation", "给我注销账号", True),
    ("escalation", "你们今天不给我一个说法我就找记者", True),
    ("escalation", "叫个能做主的人来跟我说", True),
    ("escalation", "我已经在12315上登记了", True),
    ("escalation", "我要退货退款然后给你们打一星", True),
    ("escalation", "这事我跟你们没完", True),
    ("escalation", "你们这种公司我要去举报", True),
    ("escalation", "我要求赔偿，不然我就起诉", True),
    ("escalation", "你们主管电话多少，我直接找他", True),
    ("escalation", "我要去315晚会曝光你们", True),
    ("escalation", "我之前打过12315，后来你们处理了", False),
    ("escalation", "我朋友说可以去消协投诉，我觉得没必要", False),
    ("escalation", "请问你们的营业时间是几点", False),
    ("escalation", "我想问一下积分怎么用", False),
    ("escalation", "上次我投诉的那个问题已经解决了，谢谢", False),
    ("escalation", "我想咨询一下怎么升级会员", False),
    ("escalation", "我之前反映的问题你们处理得很好，谢谢", False),
    ("escalation", "请问主管的工作时间是什么时候", False),
    ("solution", "我马上给您换一台新的", True),
    ("solution", "我这边给您退运费", True),
    ("solution", "这边给您补一个新的配件过去", True),
    ("solution", "我给您申请了50元的补偿，会直接返到您的账户", True),
    ("solution", "我帮您预约了明天上午的维修", True),
    ("solution", "这样吧，您这个订单我给您全额退款", True),
    ("solution", "我现在就给您把航班改签到下午的", True),
    ("solution", "您看是给您退差价还是送您一张优惠券", True),
    ("solution", "我这边马上给您安排退款", True),
    ("solution", "给您两个选择，一个是退款，一个是换货", True),
    ("solution", "我给您补偿一张30元的代金券", True),
    ("solution", "我们派师傅下午过去给您检修", True),
    ("solution", "已经帮您把订单改到新地址了", True),
    ("solution", "这个费用我们来承担，给您免单", True),
    ("solution", "嗯好的那我现在就帮您办理退款您稍等一下", True),
    ("solution", "我这边已经给您把钱退回去了，五分钟左右就能到", True),
    ("solution", "要不这样，我给您换一个同款的新机", True),
    ("solution", "我给您延长一个月的会员作为补偿", True),
    ("solution", "快递丢了的话我们这边给您全额赔付", True),
    ("solution", "退款的话需要您先把商品寄回来", False),
    ("solution", "我帮您问一下仓库那边", False),
    ("solution", "这个我们暂时没办法给您换货", False),
    ("solution", "我先帮您查一下这个订单的情况", False),
    ("solution", "这个需要您先去营业厅办理", False),
    ("solution", "这个订单已经超过退款期限了，没法退", False),
    ("solution", "我了解一下具体情况", False),
    ("stalling", "您的问题我已经记录了，后续会有专人跟进", True),
    ("stalling", "这个我们需要核实一下，核实完了再通知您", True),
    ("stalling", "我这边给您提交一个工单，您等待回复就可以了", True),
    ("stalling", "已经帮您加急了，请您再耐心等两天", True),
    ("stalling", "相关部门会在七个工作日内给您回复", True),
    ("stalling", "这个要上级审批，审批下来我们会联系您", True),
    ("stalling", "我把您的情况转交给专门的同事，他们会联系您", True),
    ("stalling", "具体什么时候能处理好我也说不准，您等消息吧", True),
    ("stalling", "您这个问题我们已经反馈了，请您等待处理结果", True),
    ("stalling", "这个问题我们会上报给相关部门，一有消息马上通知您", True),
    ("stalling", "我们这边已经登记了，您等电话就可以", True),
    ("stalling", "这个需要走流程，大概要一周左右才有结果", True),
    ("stalling", "您先别着急，等我们这边核实清楚再联系您", True),
    ("stalling", "我们会安排专人在二十四小时之内跟您联系", True),
    ("stalling", "这边没办法直接处理，只能帮您提交上去", True),
    ("stalling", "嗯这个问题呢我们这边会帮您记录下来然后转交给技术部门去处理有结果的话会第一时间通知您", True),
    ("stalling", "您这个我已经给您催过了，您再等两天看看", True),
    ("stalling", "这个我也没法给您确定时间，只能等后台处理", True),
    ("stalling", "我们尽量在本周内给您一个答复", True),
    ("stalling", "这个需要等厂家那边确认，确认好了会联系您", True),
    ("stalling", "您的情况我已经帮您反映了，请您保持电话畅通等待回复", True),
    ("stalling", "这个不是我们这边能处理的，我帮您反馈给上级", True),
    ("stalling", "工作人员会在三个工作日内与您联系", True),
    ("stalling", "退款已经原路退回，一般一到三个工作日到账", False),
    ("stalling", "我现在就给您把电话转过去", False),
    ("stalling", "我是工号3021的客服，明天上午十点我亲自给您打电话", False),
    ("stalling", "您这个已经处理好了，不需要再等了", False),
    ("stalling", "您稍等，我这边马上处理", False),
    ("stalling", "好的，师傅预计今天下午四点左右到您家", False),
    ("stalling", "您的退款已经成功，二十四小时内到账", False),
    ("stalling", "我现在就帮您处理，您别挂机", False),
    ("stalling", "我这边直接给您重新下单，明天就能送到", False),
    ("stalling", "请您稍等一分钟，我马上查好", False),
    ("stalling", "嗯好的那我现在就帮您办理退款您稍等一下", False),
    ("stalling", "我这边已经给您把钱退回去了，五分钟左右就能到", False),
    ("stalling", "我已经给您办好了，退款两个小时内到账", False),
    ("stalling", "我这边马上给您转接到售后", False),
    ("stalling", "我明天上午十点之前亲自给您回电话，我的工号是1024", False),
    ("stalling", "我们没说过要等，您现在就可以去取", False),
    ("stalling", "不用等通知，您直接去营业厅办理就行", False),
    ("thanks", "谢谢您一直以来的支持", True),
    ("thanks", "感谢您对我们工作的理解", True),
    ("thanks", "谢谢您提的意见", True),
    ("thanks", "好的，谢谢您", True),
    ("thanks", "感谢您的耐心", True),
    ("thanks", "不用客气，这是我们应该做的", False),
    ("thanks", "您客气了", False),
    ("upsell", "顺便跟您介绍一下，我们最近有个流量包活动", True),
    ("upsell", "您要不要考虑换一个更划算的套餐", True),
    ("upsell", "现在开通会员可以享受九折", True),
    ("upsell", "您这个情况，其实可以升级一下套餐，更划算", True),
    ("upsell", "我们有个新出的会员，开通后免运费", True),
    ("upsell", "推荐您办一张我们的联名信用卡", True),
    ("upsell", "另外我们现在有个宽带加手机的融合套餐，每月只要99", True),
    ("upsell", "您要不要顺便办个副卡", True),
    ("upsell", "您这个套餐里面已经包含了来电显示", False),
    ("upsell", "您目前的会员还有三个月到期", False),
    ("upsell", "您的套餐是每月58元，包含20G流量", False),
    ("upsell", "我帮您查一下您现在的套餐", False),
    ("upsell", "您已经是我们的会员了", False),
]


@pytest.mark.parametrize("tag, text, expected", PARAPHRASES)
def test_paraphrases(tag: str, text: str, expected: bool) -> None:
    assert bool(hits(tag, text)) is expected, f"{tag} {'missed' if expected else 'fired on'}: {text}"


# Ordinary call talk: no tag of either speaker's recognizers fires.
ORDINARY_AGENT = [
    "您好，这里是某某客服中心，工号2035为您服务",
    "请问是王先生本人吗",
    "麻烦您报一下您的手机号码",
    "好的，我这边看到您的订单了",
    "您的订单目前显示已经发货，快递单号是SF123456",
    "快递预计明天下午送达",
    "您可以在我们APP的订单详情里查看物流",
    "这个商品支持七天无理由退货",
    "退货的话您需要在APP上提交申请，填写退货原因",
    "您的套餐是畅享58元套餐，每月包含30G流量和300分钟通话",
    "本月话费已经出账，总共是七十六块五",
    "您这个月多出来的是流量超出的费用",
    "信用卡的账单日是每月5号，还款日是每月23号",
    "最低还款额是一千二百元",
    "分期的话手续费是每期0.6%",
    "您的航班是明天上午九点十分起飞",
    "改签的话需要支付一定的手续费",
    "停电是因为线路检修，预计下午五点恢复供电",
    "燃气表欠费了，需要您去营业厅或者在线充值",
    "骑手已经取餐了，正在配送中",
    "商家那边已经接单了",
    "您说的这个情况我了解了，我帮您看一下",
    "嗯嗯，对的",
    "是的，没错",
    "还有其他问题吗",
    "这边是需要您提供一下购买凭证",
    "请您保持手机畅通",
    "您可以拨打我们的24小时客服热线",
    "我们营业厅的营业时间是早上九点到晚上六点",
    "这个活动是上个月的，已经结束了",
    "我再跟您确认一下，地址是北京市朝阳区某某小区3号楼对吧",
    "您的宽带账号是这个手机号",
    "请您重启一下路由器试试",
    "您先把光猫的电源拔掉，等三十秒再插上",
    "系统正在处理中，请您稍等",
    "您这边还有什么需要帮助的吗",
    "好的，那就先这样",
    "祝您生活愉快，再见",
    "这个是正常现象，新机器都会有一点味道",
    "根据规定，超过十五天就不能无理由退货了",
    "您的积分目前是三千二百分，可以兑换礼品",
    "您的会员有效期到明年三月",
    "我这边没有权限查看这个信息",
    "这个需要您本人带身份证到营业厅办理",
    "我帮您查询一下",
    "嗯，您说",
    "好的，您请讲",
    "收到，我记一下",
    "您可以在哪里知道物流信息呢，就在订单详情页",
    "我们这边的退款规则是这样的，您看一下",
    "您当时下单的时候选的是普通快递",
    "您应该会在明天收到短信通知",
    "您的信用卡目前额度是两万",
    "这边看到您的还款已经入账了",
    "您说的那个优惠是新用户专享的",
    "我们有两种退款方式，原路退回或者退到余额",
    "我跟您说一下这个套餐包含的内容",
    "您的快递员电话是138开头的这个",
    "我们的服务时间是早八点到晚八点",
    "这个问题我需要跟同事确认一下，您稍等一分钟",
    "我这边马上帮您处理，请稍等",
    "嗯，您说得对",
    "没关系的，您慢慢说",
    "这个是您上次办理的业务",
    "我查到您上个月投诉过一次，当时是已经处理好了",
    "您可以选择线上办理或者去营业厅办理",
    "如果您不需要这个业务，我可以帮您取消",
    "嗯，我明白您的意思，您是想换货对吧",
    "您刚才说的快递单号是多少来着",
    "这个订单是商家发货，我们平台会督促商家尽快发货",
    "您看您还有什么需要",
    "好的，那我先给您记录一下您的联系方式",
    "我们会有短信通知您审核结果",
]
ORDINARY_CUSTOMER = [
    "喂，你好",
    "我想查一下我的话费",
    "我的手机号是13812345678",
    "我想问一下这个套餐怎么收费",
    "我想改一下收货地址",
    "请问你们几点下班",
    "我昨天下的单，想问一下什么时候发货",
    "我想办理宽带",
    "我想咨询一下退货流程",
    "好的，我知道了",
    "嗯，可以",
    "行，那就这样吧",
    "那我再等等看吧",
    "我是想问一下积分能换什么",
    "这个会员怎么开通",
    "我的快递单号是多少",
    "我想把套餐换成便宜一点的",
    "信用卡的还款日是哪天",
    "分期的话利息怎么算",
    "我想改签到后天的航班",
    "帮我查一下明天的航班有没有延误",
    "我家的燃气卡在哪里充值",
    "外卖大概多久能到",
    "我点的是两份米饭",
    "是的，地址是对的",
    "你说的我明白了",
    "那我先挂了",
    "我想投诉建议一下，你们APP能不能加个夜间模式",
    "我上次投诉的那个事情已经解决了",
    "我想退掉一个不用的流量包",
    "这个手机是我去年买的",
    "我想问一下维修要多少钱",
    "你们有没有上门维修的服务",
    "我记得之前办过一个什么业务",
    "我想看看有没有更便宜的套餐",
    "我在工商银行办的卡",
    "我的领导让我问一下发票的事",
]


@pytest.mark.parametrize(
    "speaker, text",
    [(Speaker.AGENT, t) for t in ORDINARY_AGENT] + [(Speaker.CUSTOMER, t) for t in ORDINARY_CUSTOMER],
)
def test_ordinary_talk_fires_nothing(speaker: Speaker, text: str) -> None:
    turn = prepare("C1", 0, speaker, text)
    fired = [h.evidence for n in registry.RULE_FILES for h in registry.get(n).recognize([turn])[0]]
    assert fired == []


# --------------------------------------------------------------------------- spans

SPANS = [
    ("apology", "真的非常抱歉给您带来不便", ["非常抱歉", "给您带来不便"]),
    ("apology", "非常抱歉让您久等了", ["非常抱歉", "让您久等"]),
    ("blame", "这不归我们管，您找快递去", ["不归我们管", "您找快递去"]),
    ("stalling", "我帮您反馈一下，二十四小时内回电", ["帮您反馈一下", "二十四小时内回电"]),
    ("solution", "已经给您退款了，两小时内到账", ["已经给您退款"]),
    ("escalation", "我要打12315", ["12315"]),
    # overlapping matches of one tag merge into one hit
    ("apology", "实在抱歉", ["实在抱歉"]),
    ("thanks", "谢谢您的耐心", ["谢谢您的耐心"]),
]


@pytest.mark.parametrize("tag, text, expected", SPANS)
def test_evidence_spans(tag: str, text: str, expected: list[str]) -> None:
    assert evidence(tag, text) == expected


# --------------------------------------------------------------------------- traditional, full-width, ASR

VARIANTS = [
    ("apology", "非常抱歉，給您添麻煩了"),
    ("apology", "對不起讓您久等了"),
    ("apology", "ｓｏｒｒｙ，讓您久等了"),
    ("stalling", "我幫您反饋一下，二十四小時內回電"),
    ("stalling", "請您耐心等待"),
    ("stalling", "３－５個工作日給您答覆"),
    ("blame", "這不歸我們管"),
    ("blame", "跟我們沒關係"),
    ("empathy", "換作是我也會著急"),
    ("empathy", "我理解您的心情"),
    ("solution", "已經給您退款了"),
    ("thanks", "謝謝您的耐心等待"),
    ("complaint", "你們怎麼回事啊，東西到現在還沒到"),
    ("escalation", "叫你們經理出來"),
    ("admission", "由於系統故障，給您帶來不便"),
    # ASR-like: no punctuation, spaces and fillers
    ("apology", "嗯 对不起 让您 久等了"),
    ("apology", "呃那个真的是非常 抱歉啊"),
    ("stalling", "嗯那个我这边帮您登记一下然后四十八小时之内会有工作人员联系您"),
    ("stalling", "这边给您上报一下 等通知就行"),
    ("stalling", "嗯 我们 会尽快 处理的"),
    ("blame", "嗯 这个 不归我们管 您找商家去吧"),
    ("solution", "嗯 我这边马上 给您 重新发一个"),
    ("empathy", "嗯嗯 我 非常理解 您的心情"),
    ("complaint", "嗯那个我买的冰箱到现在还没送到啊"),
    ("complaint", "喂 你们 每次都说 反馈 反馈 到底有没有人管"),
    ("escalation", "那个 我要 找你们 领导"),
]


@pytest.mark.parametrize("tag, text", VARIANTS)
def test_traditional_fullwidth_and_asr_text(tag: str, text: str) -> None:
    assert hits(tag, text), f"{tag} missed: {text}"


@pytest.mark.parametrize(
    "tag, text",
    [("blame", "這不是您的問題"), ("apology", "不好意思，請問您貴姓"), ("stalling", "我現在幫您轉接")],
)
def test_traditional_hard_negatives(tag: str, text: str) -> None:
    assert hits(tag, text) == []


# --------------------------------------------------------------------------- speakers


@pytest.mark.parametrize("tag, text", POSITIVES)
def test_tag_never_on_the_other_speaker(tag: str, text: str) -> None:
    other = Speaker.CUSTOMER if TAG_SPEAKER[tag] == Speaker.AGENT else Speaker.AGENT
    assert hits(tag, text, speaker=other) == []


def test_customer_quoting_stalling_is_a_complaint_not_stalling() -> None:
    text = "你们就说帮我反馈，二十四小时内回电，结果呢"
    assert hits("complaint", text, Speaker.CUSTOMER)
    assert hits("stalling", text, Speaker.CUSTOMER) == []


@pytest.mark.parametrize(
    "tag, text, expected",
    [
        # reported speech ends where the speaker resumes in their own voice
        ("solution", "您说您没收到货我马上给您补发一个", True),
        ("admission", "您说是我们发错了是吗", False),
        ("stalling", "之前的同事说二十四小时内给您回电是吗", False),
        ("escalation", "客服让我去12315投诉", False),
        ("escalation", "我朋友说可以去消协投诉，我觉得没必要", False),
        ("escalation", "你们让我等了三天我要投诉你们", True),
        ("escalation", "你们说好的三天到现在都没到我要投诉你们", True),
    ],
)
def test_reported_speech(tag: str, text: str, expected: bool) -> None:
    assert bool(hits(tag, text)) is expected


def test_quoted_text_is_not_the_agents_own_act() -> None:
    assert hits("stalling", "系统提示“请耐心等待”，其实已经给您退款了") == []
    assert hits("solution", "系统提示“请耐心等待”，其实已经给您退款了")


# --------------------------------------------------------------------------- hit invariants


@pytest.mark.parametrize("tag, text", POSITIVES + VARIANTS)
def test_every_hit_explains_itself(tag: str, text: str) -> None:
    found = hits(tag, text, turn=7)
    for h in found:
        assert text[h.start : h.end] == h.evidence
        assert h.tag == tag and h.turn == 7
        assert 0.0 < h.score <= 1.0
        assert h.source == f"lexicon:{tag}.v1"
    spans = sorted((h.start, h.end) for h in found)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "overlapping hits of one tag"


FRAGMENTS = [
    "非常抱歉",
    "不好意思",
    "請問",
    "您",
    "帮您反馈一下",
    "二十四小時內",
    "回电",
    "这不是",
    "您的问题",
    "退款",
    "已经",
    "，",
    "。",
    "！",
    "“",
    "”",
    " ",
    "嗯",
    "呃",
    "ＡＢＣ",
    "12315",
    "找你们领导",
    "怎么还没到",
    "谢谢",
    "理解您的心情",
    "3-5个工作日",
    "我们这边搞错了",
    "升级套餐",
    "\u3000",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12), st.sampled_from(list(Speaker)))
def test_hits_always_slice_the_original_text(parts: list[str], speaker: Speaker) -> None:
    text = "".join(parts)
    turn = prepare("C1", 0, speaker, text)
    for name in registry.RULE_FILES:
        for h in registry.get(name).recognize([turn])[0]:
            assert text[h.start : h.end] == h.evidence
            assert TAG_SPEAKER[h.tag] == speaker


def test_batch_returns_one_list_per_turn_in_order() -> None:
    batch = [
        prepare("C1", 0, Speaker.CUSTOMER, "怎么还没到"),
        prepare("C1", 1, Speaker.AGENT, "非常抱歉"),
        prepare("C1", 2, Speaker.AGENT, "好的"),
        prepare("C1", 3, Speaker.AGENT, ""),
    ]
    out = registry.get("lexicon:apology.v1").recognize(batch)
    assert [[h.turn for h in hs] for hs in out] == [[], [1], [], []]


# --------------------------------------------------------------------------- registry


def test_known_names() -> None:
    names = registry.known()
    assert [f"lexicon:{t}.v1" for t in RULE_TAGS if f"lexicon:{t}.v1" not in names] == []
    assert "lexicon:sentiment.v1" in names
    assert registry.MODEL in names


@pytest.mark.parametrize("tag", RULE_TAGS)
def test_each_recognizer_emits_its_tag(tag: str) -> None:
    rec = registry.get(f"lexicon:{tag}.v1")
    assert rec.name == f"lexicon:{tag}.v1" and rec.tags == (tag,)
    assert rec is registry.get(f"lexicon:{tag}.v1"), "instances are cached"


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(registry.UnknownRecognizerError) as err:
        registry.get("lexicon:apologies.v2")
    assert isinstance(err.value, KeyError)
    msg = str(err.value)
    assert "lexicon:apologies.v2" in msg and "lexicon:apology.v1" in msg and "lexicon:stalling.v1" in msg


def test_unknown_sentiment_name_lists_known_names() -> None:
    with pytest.raises(registry.UnknownRecognizerError, match="lexicon:sentiment.v1"):
        registry.get_sentiment("lexicon:apology.v1")


def test_build_adds_admission() -> None:
    default = load_config()
    rules_only = [n for n in default.recognizers if n != registry.MODEL]
    config = default.model_copy(update={"recognizers": rules_only, "sentiment": "lexicon:sentiment.v1"})
    recognizers, sentiment = registry.build(config)
    names = [r.name for r in recognizers]
    assert names[: len(config.recognizers)] == config.recognizers
    assert names.count("lexicon:admission.v1") == 1
    assert sentiment.name == config.sentiment


def test_default_config_fuses_rules_and_the_shipped_model() -> None:
    recognizers, sentiment = registry.build(load_config())
    names = [r.name for r in recognizers]
    assert "lexicon:blame.v1" in names and "model:qa-small.v1" in names
    assert sentiment.name == "model:qa-small.v1"


def test_build_fails_on_unknown_name() -> None:
    config = load_config().model_copy(update={"recognizers": ["lexicon:apology.v1", "lexicon:nope.v1"]})
    with pytest.raises(registry.UnknownRecognizerError, match="lexicon:nope.v1"):
        registry.build(config)


def test_rule_info_of_unknown_name_fails() -> None:
    with pytest.raises(registry.UnknownRecognizerError, match="lexicon:apology.v1"):
        registry.rule_info("lexicon:nope.v1")


@pytest.mark.parametrize("name", sorted(registry.RULE_FILES) + sorted(registry.SENTIMENT_FILES))
def test_rule_info_records_version_and_hash(name: str) -> None:
    info = registry.rule_info(name)
    path = RULES_DIR / Path(str(info["file"])).name
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert name == f"lexicon:{info['id']}.v{info['version']}"


# --------------------------------------------------------------------------- malformed rule files

GOOD = """\
id: apology
version: 1
tag: apology
speaker: agent
description: test
lexicon:
  - id: words
    score: 0.9
    terms: [抱歉]
"""


def write(tmp_path: Path, body: str, name: str = "apology.v1.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_minimal_file_loads(tmp_path: Path) -> None:
    rec = RuleRecognizer(load_rule_file(write(tmp_path, GOOD)))
    assert [h.evidence for h in rec.find(prepare("C", 0, Speaker.AGENT, "很抱歉"))] == ["抱歉"]


@pytest.mark.parametrize(
    "body, fragments",
    [
        (GOOD + "patterns:\n  - id: broken\n    score: 0.5\n    regex: '(抱歉'\n", ["broken", "bad regex"]),
        (GOOD + "patterns:\n  - id: macro\n    score: 0.5\n    regex: '{NOPE}'\n", ["macro", "NOPE"]),
        (GOOD + "patterns:\n  - id: empty\n    score: 0.5\n    regex: '(抱歉)?'\n", ["empty", "empty string"]),
        (GOOD.replace("    score: 0.9\n", "    score: 0.9\n    colour: red\n"), ["words", "colour", "unknown key"]),
        (GOOD + "extra_key: 1\n", ["extra_key", "unknown key"]),
        (GOOD.replace("score: 0.9", "score: 1.5"), ["words", "score"]),
        (GOOD.replace("speaker: agent", "speaker: customer"), ["applies to agent"]),
        (GOOD.replace("tag: apology", "tag: apologies"), ["unknown tag"]),
        (GOOD + "negation:\n  cues: ['(']\n", ["negation", "bad regex"]),
        (GOOD + "exclusions:\n  - id: bad_ex\n    regex: '['\n", ["bad_ex", "bad regex"]),
        ("- just\n- a list\n", ["mapping"]),
        ("id: [unclosed\n", ["YAML"]),
    ],
)
def test_malformed_rule_file_fails_naming_file_and_entry(tmp_path: Path, body: str, fragments: list[str]) -> None:
    path = write(tmp_path, body)
    with pytest.raises(RuleFileError) as err:
        load_rule_file(path)
    msg = str(err.value)
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg


ENGINE = """\
id: apology
version: 1
tag: apology
speaker: agent
description: engine semantics
defs:
  SORRY: '抱歉|对不起'
negation:
  cues: ['不用']
  window: 1
quoting:
  quotes: false
  reported: false
  reported_cues: ['他说']
  reported_end: ['我']
  reported_max: 6
lexicon:
  - id: words
    score: 0.9
    terms: [對不起]
patterns:
  - id: sorry
    score: 0.8
    regex: '非常 ({SORRY})'
  - id: boundary
    score: 0.6
    boundary: true
    regex: '歉意'
  - id: quoted_ok
    score: 0.7
    in_quotes: true
    regex: '遗憾'
  - id: vetoed
    score: 0.7
    regex: '惭愧'
    unless: ['不惭愧']
exclusions:
  - id: span
    regex: '别说对不起'
  - id: turn
    scope: turn
    regex: '测试'
"""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("非常抱歉", ["非常抱歉"]),  # macro expanded, whitespace in the regex dropped
        ("非常對不起", ["非常對不起"]),  # overlapping entries merge into one hit
        ("不用跟您说对不起", ["对不起"]),  # the cue is 3 characters away, window is 1
        ("不用说对不起", []),  # 1 character away: negated
        ("不用对不起", []),  # negated
        ("“对不起”", []),  # quoted
        ("他说对不起", []),  # reported
        ("他说好的我对不起您", ["对不起"]),  # reported speech ends at 我
        ("“遗憾”", ["遗憾"]),  # in_quotes: true
        ("深表歉意", []),  # 歉意 is not a token of 深表歉意
        ("惭愧", ["惭愧"]),
        ("不惭愧，有点惭愧", []),  # unless vetoes the entry in the whole turn
        ("您别说对不起", []),  # span exclusion
        ("测试一下，对不起", []),  # turn exclusion
    ],
)
def test_engine_semantics(tmp_path: Path, text: str, expected: list[str]) -> None:
    rec = RuleRecognizer(load_rule_file(write(tmp_path, ENGINE)))
    assert [h.evidence for h in rec.find(prepare("C", 0, Speaker.AGENT, text))] == expected


def test_file_name_must_match_id_and_version(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="apology.v1.yaml"):
        load_rule_file(write(tmp_path, GOOD, name="apology.v2.yaml"))


def test_duplicate_entry_ids_fail(tmp_path: Path) -> None:
    body = GOOD + "patterns:\n  - id: words\n    score: 0.5\n    regex: '对不起'\n"
    with pytest.raises(RuleFileError, match="duplicate entry id"):
        load_rule_file(write(tmp_path, body))


# --------------------------------------------------------------------------- recall families (v1 data update)

# Families of wording added to raise recall: (tag, text, fires). Each family
# has positives in simplified, traditional and ASR-like (spaced, no
# punctuation) form, and its hard negatives from LABELS.md "it is not".
RECALL_FAMILIES: list[tuple[str, str, bool]] = [
    # complaint: an escalation threat is also a complaint
    ("complaint", "叫你们经理出来跟我说", True),
    ("complaint", "再不處理我就去消保會申訴", True),
    ("complaint", "你们不退 我就 打一二三一五", True),
    ("complaint", "我要把这事发到微博上让大家评评理", True),
    ("complaint", "不用找你们领导了，你处理得挺好的", False),
    ("complaint", "上次找你们经理是为了开发票，这次问别的", False),
    ("complaint", "我朋友说可以打12315问问，是这样吗？", False),
    ("complaint", "燃气报警器响了一下，需要处理吗？", False),
    # complaint: said / ordered X, got Y
    ("complaint", "说好的包邮，结果又收了运费", True),
    ("complaint", "訂的是大床房，到了卻給我兩張小床", True),
    ("complaint", "我买的是黑色 结果送来白色的", True),
    # complaint: time gone by, nothing happened; nobody told me
    ("complaint", "申请提交五天了，还是没有动静", True),
    ("complaint", "維修單送出兩個禮拜，連一通電話都沒有", True),
    ("complaint", "套餐变了也没人通知我", True),
    ("complaint", "快递三天了 一直不动", True),
    # complaint: charged / short-delivered / broken again / noise
    ("complaint", "换个按键收了我两百块", True),
    ("complaint", "少送了一份薯条", True),
    ("complaint", "洗衣機又不轉了", True),
    ("complaint", "空调外机噪音特别大，晚上睡不着", True),
    ("complaint", "东西是不错，就是快递慢了点", True),
    ("complaint", "这个赔偿方案我不接受", True),
    # complaint: plain questions and requests stay out
    ("complaint", "这个怎么用", False),
    ("complaint", "运费多少钱？", False),
    ("complaint", "能送到门口保安亭吗？", False),
    ("complaint", "上周投诉过一次送错餐，已经给我退了，今天是想问会员的事", False),
    # blame: the customer's own act, "only you", "worth it?", lecturing, pushing elsewhere
    ("blame", "是您自己点了确认的", True),
    ("blame", "您自己欠费还怪我们停机", True),
    ("blame", "別人都沒問題，就您意見多", True),
    ("blame", "几块钱的事 您至于吗", True),
    ("blame", "您要求也太高了", True),
    ("blame", "您當初就應該問清楚", True),
    ("blame", "我说得够清楚了吧，您怎么还是听不明白", True),
    ("blame", "这个我们管不了，您去找快递公司", True),
    ("blame", "您连自己的账号都不知道", True),
    ("blame", "您这个是人为损坏", True),
    ("blame", "这不是您的问题，您没有做错", False),
    ("blame", "您不在家很正常，我帮您改约明天", False),
    ("blame", "您可以自己在APP上查进度", False),
    ("blame", "遇到这种情况，难怪您会生气", False),
    ("blame", "我帮您联系快递公司催一下", False),
    # solution: performed remedies, costs borne, arrival times, options
    ("solution", "我给您把自动续费关了，这个月的也退了", True),
    ("solution", "積分已經幫您恢復了", True),
    ("solution", "运费由我们承担", True),
    ("solution", "师傅已经在路上了 大概二十分钟到", True),
    ("solution", "您看是退款还是给您换一个新的", True),
    ("solution", "我们会补发一份新的给您", True),
    ("solution", "我帮您查一下能不能退", False),
    ("solution", "我帮您登记一下，有结果会通知您", False),
    ("solution", "这边给您加急催一下，三个工作日内会有人联系您", False),
    ("solution", "您可以选择线上办理或者去营业厅办理", False),
    ("solution", "您已经开通了会员，这个券是会员自带的", False),
    # upsell: "we have a new ...", would-you-like-to-add, discount language
    ("upsell", "我们新推出了一个宽带提速包，要不要了解一下", True),
    ("upsell", "要不要順便幫您加購一組濾芯？", True),
    ("upsell", "现在办年卡 首单立减二十", True),
    ("upsell", "您可以开通我们的自动还款服务", True),
    ("upsell", "您现在的套餐每月58元，包含30G流量", False),
    ("upsell", "我给您把流量包退订了", False),
    ("upsell", "要不要帮您转接人工？", False),
    ("upsell", "这次的运费我帮您退回，另外补一张十元的券给您", False),
    # empathy: anyone in your place, the feeling is natural, I feel it too
    ("empathy", "这事搁谁身上都闹心", True),
    ("empathy", "您生气是应该的", True),
    ("empathy", "您這樣被扣款，會不開心是很正常的", True),
    ("empathy", "我听着都替您着急", True),
    ("empathy", "我瞭解您的心情", True),
    ("empathy", "嗯嗯 好的", False),
    ("empathy", "您先别急，我们会尽快给您答复", False),
    ("empathy", "谢谢您，这次真的辛苦您了", False),
]


@pytest.mark.parametrize("tag, text, fires", RECALL_FAMILIES)
def test_recall_families(tag: str, text: str, fires: bool) -> None:
    assert bool(hits(tag, text)) is fires, f"{tag} {'missed' if fires else 'fired on'}: {text} -> {evidence(tag, text)}"


@pytest.mark.parametrize("tag, text", [(t, x) for t, x, f in RECALL_FAMILIES if f])
def test_recall_families_speaker_scoped(tag: str, text: str) -> None:
    other = Speaker.CUSTOMER if TAG_SPEAKER[tag] is Speaker.AGENT else Speaker.AGENT
    assert hits(tag, text, speaker=other) == []
