package conformance

// commands is the script language's verb table, read by the parser (argument
// counts, static checks) and the runner (handlers). It is filled once in
// init because loop handlers refer back to it, which a composite literal
// initializer cannot do; nothing modifies it afterwards.
var commands map[string]cmdSpec

func init() {
	commands = map[string]cmdSpec{
		// backing devices
		"backing":      {min: 2, max: 2, usage: "backing NAME SIZE", check: checkSizeArg(1), run: cmdBacking},
		"grow-backing": {min: 2, max: 2, usage: "grow-backing NAME SIZE", check: checkSizeArg(1), run: cmdGrowBacking},
		"fill-backing": {min: 4, max: 4, usage: "fill-backing NAME OFF LEN pattern=X|zero", check: checkIOArgs(true), run: cmdFillBacking},

		// devices and tables
		"pool": {min: 1, max: -1, canFail: true, check: checkPoolArgs, run: cmdPool,
			usage: "pool NAME [meta=SIZE] [data=SIZE] [chunk=SIZE] [lwm=N] [len=SIZE] [FEATURE...]"},
		"thin":        {min: 4, max: 5, canFail: true, usage: "thin NAME POOL ID SIZE [ro]", check: checkThinArgs, run: cmdThin},
		"create":      {min: 1, max: -1, canFail: true, usage: "create NAME [ro] [LEN TYPE PARAMS...]", run: cmdCreate},
		"load":        {min: 3, max: -1, canFail: true, usage: "load NAME LEN TYPE PARAMS...", check: checkSizeArg(1), run: cmdLoad},
		"reload":      {min: 3, max: -1, canFail: true, usage: "reload NAME LEN TYPE PARAMS...", check: checkSizeArg(1), run: cmdReload},
		"resize-pool": {min: 2, max: 4, canFail: true, usage: "resize-pool NAME [data=SIZE] [meta=SIZE] [len=SIZE]", check: checkResizePool, run: cmdResizePool},
		"resize-thin": {min: 2, max: 2, canFail: true, usage: "resize-thin NAME SIZE", check: checkSizeArg(1), run: cmdResizeThin},
		"suspend":     {min: 1, max: 2, canFail: true, usage: "suspend NAME [noflush]", run: cmdSuspend},
		"resume":      {min: 1, max: 1, canFail: true, usage: "resume NAME", run: cmdResume},
		"remove":      {min: 1, max: 1, canFail: true, usage: "remove NAME", run: cmdRemove},
		"clear":       {min: 1, max: 1, canFail: true, usage: "clear NAME", run: cmdClear},
		"msg":         {min: 1, max: -1, canFail: true, usage: "msg NAME [TEXT...]", run: cmdMsg},
		"open":        {min: 1, max: 1, canFail: true, usage: "open NAME", run: cmdOpen},
		"close":       {min: 1, max: 1, canFail: true, usage: "close NAME", run: cmdClose},

		// assertions
		"status": {min: 1, max: -1, canFail: true, usage: "status NAME KEY=VALUE...", check: checkStatusArgs, run: cmdStatus},
		"table":  {min: 1, max: -1, canFail: true, usage: "table NAME [inactive] KEY=VALUE...", check: checkTableArgs, run: cmdTable},
		"info":   {min: 1, max: -1, canFail: true, usage: "info NAME KEY=VALUE...", check: checkInfoArgs, run: cmdInfo},
		"list":   {min: 1, max: -1, usage: "list has=A,B lacks=C", check: checkListArgs, run: cmdList},
		"size":   {min: 2, max: 2, canFail: true, usage: "size NAME SIZE", check: checkSizeArg(1), run: cmdSize},

		// IO
		"write":   {min: 4, max: 4, canFail: true, usage: "write NAME OFF LEN pattern=X|zero", check: checkIOArgs(true), run: cmdWrite},
		"read":    {min: 4, max: 4, canFail: true, usage: "read NAME OFF LEN pattern=X|zero", check: checkIOArgs(true), run: cmdRead},
		"discard": {min: 3, max: 3, canFail: true, usage: "discard NAME OFF LEN", check: checkIOArgs(false), run: cmdDiscard},
		"flush":   {min: 1, max: 1, canFail: true, usage: "flush NAME", run: cmdFlush},

		// flow, events, timing
		"repeat":     {min: 2, max: -1, canFail: true, expectHandled: true, usage: "repeat VAR=A..B CMD... [=> X]", check: checkLoop, run: cmdRepeat},
		"until":      {min: 2, max: -1, canFail: true, expectHandled: true, usage: "until VAR=A..B CMD... => ERR", check: checkLoop, run: cmdUntil},
		"bg":         {min: 2, max: -1, canFail: true, expectHandled: true, usage: "bg JOB write|read|discard|flush ... [=> X]", check: checkBg, run: cmdBg},
		"join":       {min: 1, max: 2, usage: "join JOB [within=DUR]", check: checkDurationArg(1, "within"), run: cmdJoin},
		"pending":    {min: 1, max: 1, usage: "pending JOB", run: cmdPending},
		"eventually": {min: 2, max: -1, canFail: true, expectHandled: true, usage: "eventually within=DUR ASSERTION...", check: checkEventually, run: cmdEventually},
		"sleep":      {min: 1, max: 1, usage: "sleep DUR", check: checkDurationArg(0, ""), run: cmdSleep},

		"event-mark":       {min: 1, max: 1, canFail: true, usage: "event-mark NAME", run: cmdEventMark},
		"wait-event":       {min: 1, max: 2, canFail: true, usage: "wait-event NAME [within=DUR]", check: checkDurationArg(1, "within"), run: cmdWaitEvent},
		"no-space-timeout": {min: 1, max: 1, usage: "no-space-timeout DUR", check: checkDurationArg(0, ""), run: cmdNoSpaceTimeout},
	}
}
