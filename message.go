package vsrp

import "strings"

// Lang is a response language of the App API.
type Lang int

// The languages of the App API's messages.
const (
	English Lang = iota
	SimplifiedChinese
	TraditionalChinese
)

// ParseAcceptLanguage picks the language from an Accept-Language header: zh-CN (and zh,
// zh-Hans, zh-SG) gives Simplified Chinese, zh-HK/zh-TW/zh-MO/zh-Hant Traditional Chinese,
// anything else English. The first listed language that we know wins.
func ParseAcceptLanguage(h string) Lang {
	for _, part := range strings.Split(h, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "zh-hk" || tag == "zh-tw" || tag == "zh-mo" || strings.HasPrefix(tag, "zh-hant"):
			return TraditionalChinese
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			return SimplifiedChinese
		case strings.HasPrefix(tag, "en"):
			return English
		}
	}
	return English
}

var messages = map[Code][3]string{
	OK:                 {"success", "success", "success"},
	CodeNotClaimable:   {"this reward cannot be claimed now", "该奖励当前无法领取", "該獎勵目前無法領取"},
	CodeMalformed:      {"malformed request", "请求格式错误", "請求格式錯誤"},
	CodeMissingParam:   {"a required parameter is missing", "缺少必填参数", "缺少必填參數"},
	CodeInvalidParam:   {"a parameter has an invalid value or format", "参数值或格式无效", "參數值或格式無效"},
	CodeTooLarge:       {"request too large", "请求过大", "請求過大"},
	CodeUnknownAPI:     {"unknown API or method", "未知的接口或方法", "未知的介面或方法"},
	CodeBadCredentials: {"appId or appSecret is wrong", "appId 或 appSecret 错误", "appId 或 appSecret 錯誤"},
	CodeTokenInvalid:   {"access token missing or invalid", "访问令牌缺失或无效", "存取權杖缺失或無效"},
	CodeTokenExpired:   {"access token expired", "访问令牌已过期", "存取權杖已過期"},
	CodeRefreshInvalid: {"refresh token invalid", "刷新令牌无效", "重新整理權杖無效"},
	CodeRefreshExpired: {"refresh token expired", "刷新令牌已过期", "重新整理權杖已過期"},
	CodeIPDenied:       {"caller IP not in the app's whitelist", "调用方 IP 不在应用白名单中", "呼叫方 IP 不在應用白名單中"},
	CodeForbidden:      {"permission denied", "无权限", "無權限"},
	CodeAppDisabled:    {"app disabled", "应用已停用", "應用已停用"},
	CodeDecrypt:        {"payload could not be decrypted", "数据解密失败", "資料解密失敗"},
	CodeAppMismatch:    {"envelope appId does not match the token", "appId 与令牌不匹配", "appId 與權杖不相符"},
	CodeRateLimited:    {"too many requests", "请求过于频繁", "請求過於頻繁"},
	CodeReplay:         {"stale or replayed request", "请求已过期或重复", "請求已過期或重複"},
	CodeVuidNotFound:   {"vuid not found", "用户不存在", "使用者不存在"},
	CodeCardInvalid:    {"card number invalid", "卡号无效", "卡號無效"},
	CodeCardNoBIN:      {"card not in the system's configured range", "卡片不在系统配置的卡段范围内", "卡片不在系統設定的卡段範圍內"},
	CodeCardBound:      {"card already bound to another user", "卡片已绑定其他用户", "卡片已綁定其他使用者"},
	CodeCardNotFound:   {"cardId not found", "卡片不存在", "卡片不存在"},
	CodeGroupNotFound:  {"enrollment group not found", "报名组不存在", "報名組不存在"},
	CodeGroupClosed:    {"enrollment group not open now", "报名组当前未开放", "報名組目前未開放"},
	CodeNotEligible:    {"card not eligible for this enrollment group", "卡片不符合报名条件", "卡片不符合報名條件"},
	CodeExtDataInvalid: {"userExtendedData invalid", "userExtendedData 无效", "userExtendedData 無效"},
	CodeGroupFull:      {"enrollment group full", "报名组已满", "報名組已滿"},
	CodeCampaignNone:   {"campaign not found", "活动不存在", "活動不存在"},
	CodeRewardNotFound: {"reward not found", "奖励不存在", "獎勵不存在"},
	CodeStatusChange:   {"reward status change not allowed", "不允许的奖励状态变更", "不允許的獎勵狀態變更"},
	CodeAuidInvalid:    {"auid invalid", "auid 无效", "auid 無效"},
	CodeInternal:       {"internal error", "系统内部错误", "系統內部錯誤"},
	CodeUnavailable:    {"service unavailable, retry later", "服务暂不可用，请稍后重试", "服務暫不可用，請稍後重試"},
}

// Message is the code's message in the language. Unknown codes give the internal-error text.
func Message(c Code, l Lang) string {
	m, ok := messages[c]
	if !ok {
		m = messages[CodeInternal]
	}
	return m[l]
}

// Codes lists every code of the table, for tests and documentation.
func Codes() []Code {
	out := make([]Code, 0, len(messages))
	for c := range messages {
		out = append(out, c)
	}
	return out
}
