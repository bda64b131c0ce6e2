package tools

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Guides for the model, written for kitegate's tools: how to investigate a
// failed build, find flaky tests, read logs efficiently, check capacity.
//
//go:embed skills/*.md
var skillFiles embed.FS

type skill struct {
	Name        string
	Title       string
	Description string
	Content     string
}

// loadSkills reads the embedded guides; each opens with a front matter block
// giving its title and description.
func loadSkills() ([]skill, error) {
	paths, err := fs.Glob(skillFiles, "skills/*.md")
	if err != nil {
		return nil, err
	}
	var out []skill
	for _, p := range paths {
		b, err := skillFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s := skill{Name: strings.TrimSuffix(path.Base(p), ".md")}
		rest, ok := bytes.CutPrefix(b, []byte("---\n"))
		front, body, ok2 := bytes.Cut(rest, []byte("\n---\n"))
		if !ok || !ok2 {
			return nil, fmt.Errorf("skill %s: no front matter", s.Name)
		}
		for _, line := range strings.Split(string(front), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch strings.TrimSpace(k) {
			case "title":
				s.Title = strings.TrimSpace(v)
			case "description":
				s.Description = strings.TrimSpace(v)
			}
		}
		if s.Title == "" || s.Description == "" {
			return nil, fmt.Errorf("skill %s: title and description are required", s.Name)
		}
		s.Content = strings.TrimSpace(string(body)) + "\n"
		out = append(out, s)
	}
	return out, nil
}

type listSkillsArgs struct {
	Query string `json:"query,omitempty" jsonschema:"words to look for, e.g. flaky"`
}

type loadSkillArgs struct {
	SkillName string `json:"skill_name,omitempty" jsonschema:"the guide's name, as list_skills gives it, e.g. debug-logs-guide"`
	Name      string `json:"name,omitempty" jsonschema:"same as skill_name"`
}

type skillSummary struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type skillList struct {
	Items []skillSummary `json:"items"`
}

// Guide returns one of the embedded guides by name: the same text load_skill
// serves, for an MCP server to offer as a resource.
func Guide(name string) (title, content string, ok bool) {
	skills, err := loadSkills()
	if err != nil {
		return "", "", false
	}
	for _, s := range skills {
		if s.Name == name {
			return s.Title, s.Content, true
		}
	}
	return "", "", false
}

type skillOut struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Content string `json:"content"`
}

func skillTools() ([]*Tool, error) {
	skills, err := loadSkills()
	if err != nil {
		return nil, fmt.Errorf("skills: %w", err)
	}
	names := make([]string, 0, len(skills))
	for _, s := range skills {
		names = append(names, s.Name)
	}
	var d definer
	add(&d, Spec{
		Local: true,
		Name:  "list_skills",
		Title: "List Buildkite guides",
		Description: "Lists kitegate's guides to doing Buildkite work well with these tools (debugging a job from its log, investigating a failed build, " +
			"finding flaky tests, reading large logs, checking agent capacity): name, title and description, optionally only those matching query. " +
			"Load one with load_skill before a task it covers.",
		Area: "skills", Kind: Read,
	}, func(_ context.Context, in listSkillsArgs) (skillList, error) {
		words := strings.Fields(strings.ToLower(in.Query))
		out := skillList{Items: []skillSummary{}}
		for _, s := range skills {
			text := strings.ToLower(s.Name + " " + s.Title + " " + s.Description + " " + s.Content)
			if slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(text, w) }) {
				continue
			}
			out.Items = append(out.Items, skillSummary{Name: s.Name, Title: s.Title, Description: s.Description})
		}
		return out, nil
	})
	add(&d, Spec{
		Local:       true,
		Name:        "load_skill",
		Title:       "Load a Buildkite guide",
		Description: "Returns one of kitegate's guides (Markdown) by skill_name, as list_skills gives it: step-by-step advice on which tools to call, in what order, for a task.",
		Area:        "skills", Kind: Read,
	}, func(_ context.Context, in loadSkillArgs) (skillOut, error) {
		name, arg := in.SkillName, "skill_name"
		switch {
		case name == "" && in.Name == "":
			return skillOut{}, &ArgumentError{Argument: "skill_name", Reason: "is required"}
		case name == "":
			name, arg = in.Name, "name"
		case in.Name != "" && in.Name != name:
			return skillOut{}, &ArgumentError{Argument: "name", Reason: "differs from skill_name; give one"}
		}
		for _, s := range skills {
			if s.Name == name {
				return skillOut{Name: s.Name, Title: s.Title, Content: s.Content}, nil
			}
		}
		return skillOut{}, &ArgumentError{Argument: arg, Reason: "no such guide; one of " + strings.Join(names, ", ")}
	})
	return d.done()
}
