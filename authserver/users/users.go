package users

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/storage"
)

// MinPasswordLength is the shortest password "users add" accepts
// (NIST SP 800-63B section 3.1.1.2 asks for at least 8).
const MinPasswordLength = 8

// Usage is the command's help text.
const Usage = `usage: mcpfort users [--config FILE | --db DATABASE] COMMAND [ARGS]

Commands:
  add [--email E] [--name N] [--group G]... [--disabled] USERNAME
                       create a local user; the password is read from stdin
  groups [--add G]... [--remove G]... [--set G,G] USER
                       show or change a user's groups (USER: username or
                       id); groups decide which scopes the user may get
  passwd USERNAME      set a new password, read from stdin
  list [--json]        list users
  disable USERNAME     refuse sign-in (sessions and refresh tokens stop working)
  enable USERNAME      allow sign-in again
`

// Run executes one users subcommand against store and returns the exit
// status: 0 on success, 1 on failure, 2 on a usage error.
func Run(ctx context.Context, store storage.UserStore, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, Usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "add":
		err = add(ctx, store, args, stdin, stdout, stderr)
	case "passwd":
		err = passwd(ctx, store, args, stdin, stdout)
	case "list":
		err = list(ctx, store, args, stdout, stderr)
	case "groups":
		err = groups(ctx, store, args, stdout, stderr)
	case "disable", "enable":
		err = setDisabled(ctx, store, args, cmd == "disable", stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, Usage)
		return 0
	default:
		fmt.Fprintf(stderr, "mcpfort users: unknown command %q\n\n%s", cmd, Usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mcpfort users %s: %v\n\n%s", cmd, err, Usage)
		return 2
	default:
		fmt.Fprintf(stderr, "mcpfort users %s: %v\n", cmd, err)
		return 1
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func oneName(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", usageError{"expected exactly one USERNAME"}
	}
	name := fs.Arg(0)
	if name == "" || len(name) > 256 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return "", usageError{"USERNAME must be 1 to 256 printable characters without spaces"}
	}
	return name, nil
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// readPassword reads one line from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return "", fmt.Errorf("password must be at least %d characters (read from stdin)", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return "", errors.New("password longer than 1024 bytes")
	}
	return pw, nil
}

func add(ctx context.Context, store storage.UserStore, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flags("add", stderr)
	email := fs.String("email", "", "email address")
	name := fs.String("name", "", "display name")
	disabled := fs.Bool("disabled", false, "create the user disabled")
	var gs groupList
	fs.Var(&gs, "group", "a group of the user (repeat for more)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	username, err := oneName(fs)
	if err != nil {
		return err
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	hash, err := authserver.HashPassword(pw)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	u := &storage.User{ID: "u_" + strings.ToLower(rand.Text()), Username: username, PasswordHash: hash, Disabled: *disabled,
		Email: *email, Name: *name, Groups: normalizeGroups(gs), CreatedAt: now, UpdatedAt: now}
	if err := store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("user %q already exists", username)
		}
		return err
	}
	fmt.Fprintf(stdout, "created user %s (id %s)\n", username, u.ID)
	return nil
}

func passwd(ctx context.Context, store storage.UserStore, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flags("passwd", io.Discard)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	username, err := oneName(fs)
	if err != nil {
		return err
	}
	u, err := lookup(ctx, store, username)
	if err != nil {
		return err
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = authserver.HashPassword(pw); err != nil {
		return err
	}
	u.UpdatedAt = time.Now().UTC()
	if err := store.UpdateUser(ctx, u); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %s changed\n", username)
	return nil
}

// groupList collects repeated --group, --add and --remove flags; each
// value may also list several groups separated by commas.
type groupList []string

func (g *groupList) String() string { return strings.Join(*g, ",") }

func (g *groupList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "*" || len(part) > 256 || !utf8.ValidString(part) || strings.ContainsFunc(part, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			return fmt.Errorf("group %q: 1 to 256 printable characters without spaces, not \"*\"", part)
		}
		*g = append(*g, part)
	}
	return nil
}

func normalizeGroups(gs []string) []string {
	out := slices.Clone(gs)
	slices.Sort(out)
	return slices.Compact(out)
}

// groups shows a user's groups, or changes them with --set, --add and
// --remove (applied in that order).
func groups(ctx context.Context, store storage.UserStore, args []string, stdout, stderr io.Writer) error {
	fs := flags("groups", stderr)
	var add, remove, set groupList
	fs.Var(&add, "add", "add a group (repeat for more)")
	fs.Var(&remove, "remove", "remove a group (repeat for more)")
	fs.Var(&set, "set", "replace the groups with this comma-separated list")
	clear := fs.Bool("clear", false, "remove every group")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	name, err := oneName(fs)
	if err != nil {
		return err
	}
	u, err := store.GetUserByUsername(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = store.GetUser(ctx, name)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no user %q", name)
	}
	if err != nil {
		return err
	}
	if len(add)+len(remove)+len(set) > 0 || *clear {
		next := slices.Clone(u.Groups)
		if len(set) > 0 || *clear {
			next = slices.Clone(set)
		}
		next = append(next, add...)
		next = slices.DeleteFunc(next, func(g string) bool { return slices.Contains(remove, g) })
		u.Groups = normalizeGroups(next)
		u.UpdatedAt = time.Now().UTC()
		if err := store.UpdateUser(ctx, u); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s: %s\n", name, dash(strings.Join(u.Groups, ",")))
	return nil
}

func lookup(ctx context.Context, store storage.UserStore, username string) (*storage.User, error) {
	u, err := store.GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", username)
	}
	return u, err
}

func setDisabled(ctx context.Context, store storage.UserStore, args []string, disabled bool, stdout io.Writer) error {
	fs := flags("disable", io.Discard)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	username, err := oneName(fs)
	if err != nil {
		return err
	}
	u, err := lookup(ctx, store, username)
	if err != nil {
		return err
	}
	u.Disabled = disabled
	u.UpdatedAt = time.Now().UTC()
	if err := store.UpdateUser(ctx, u); err != nil {
		return err
	}
	state := "enabled"
	if disabled {
		state = "disabled"
	}
	fmt.Fprintf(stdout, "user %s %s\n", username, state)
	return nil
}

// listed is one user in "list --json" output. Password hashes are never
// printed.
type listed struct {
	ID       string   `json:"id"`
	Username string   `json:"username,omitempty"`
	Disabled bool     `json:"disabled"`
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Created  string   `json:"created"`
}

func list(ctx context.Context, store storage.UserStore, args []string, stdout, stderr io.Writer) error {
	fs := flags("list", stderr)
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{"list takes no arguments"}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "ID\tUSERNAME\tSTATUS\tEMAIL\tNAME\tGROUPS\tFEDERATED")
	}
	enc := json.NewEncoder(stdout)
	after := ""
	for {
		page, err := store.ListUsers(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, u := range page {
			l := listed{ID: u.ID, Username: u.Username, Disabled: u.Disabled, Email: u.Email, Name: u.Name,
				Issuer: u.Issuer, Subject: u.Subject, Groups: u.Groups, Created: u.CreatedAt.UTC().Format(time.RFC3339)}
			if *asJSON {
				if err := enc.Encode(l); err != nil {
					return err
				}
				continue
			}
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fed := ""
			if u.Issuer != "" {
				fed = u.Issuer + " " + u.Subject
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, dash(u.Username), status, dash(u.Email), dash(u.Name),
				dash(strings.Join(u.Groups, ",")), dash(fed))
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !*asJSON {
		return tw.Flush()
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	// Names come from users and identity providers: keep the table intact.
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
